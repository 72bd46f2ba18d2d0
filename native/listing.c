/*
 * trawl's native directory listing: the local backend's listing threads call it instead of
 * `readdirSync` + `lstatSync` per entry when it is built (src/storage/backends/local-worker.ts,
 * docs/native-listing.md). One call lists a batch of directories and answers in the packed
 * form the threads already reply with, so no JS object is made per entry: Node's `lstatSync`
 * builds a Stats object (and its Dates) per entry, which was half of a walk's CPU, and the
 * garbage of it most of the rest (docs/benchmarks.md, "Where the time goes").
 *
 * It must list exactly what the JS path lists (test/local.native.test.ts runs both):
 *   - names sorted by bytes (`readdirSync` sorts as libuv's scandir does: strcmp);
 *   - a name that is not valid UTF-8 is unreadable, escaped byte by byte as lone surrogates
 *     U+DC80–U+DCFF (the JS path's `escapeName`);
 *   - an entry gone between getdents and stat is left out; any other stat error fails the
 *     directory whole, as `lstatSync` throwing does there;
 *   - with `follow`: a link's target is listed in its place; ELOOP is a loop, any other error
 *     (dangling) unreadable; a link to a directory that is the directory itself or one of its
 *     ancestors up to the root (by device and inode) is a loop;
 *   - mtimes in whole milliseconds, floored exactly from seconds and nanoseconds;
 *   - a directory whose size on disk exceeds `large` is answered with TRAWL_STREAM.
 * Errors carry the libuv code name (`ENOENT`) that Node would give, for `mapLocalError`.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

enum { T_FILE = 0, T_DIR = 1, T_SYMLINK = 2, T_SPECIAL = 3, T_LOOP = 4, T_UNREADABLE = 5 };

/* What one call lists: every directory's entries, appended. */
typedef struct {
  char *names; /* names joined with '/' (the one byte a name cannot hold) */
  size_t names_len, names_cap;
  uint8_t *types;
  double *sizes, *mtimes;
  size_t n, cap;
  int escaped; /* some name is not valid UTF-8: the string is made as UTF-16 */
} Out;

/* One directory's names as read, before sorting. */
typedef struct {
  char *bytes;
  size_t len, cap;
  size_t *offsets;
  size_t count, ocap;
} Names;

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 1024;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

static int out_push(Out *o, const char *name, size_t len, int type, double size, double mtime) {
  size_t cap = o->cap;
  int err = grow((void **)&o->types, &cap, o->n + 1, 1);
  if (!err) {
    cap = o->cap;
    err = grow((void **)&o->sizes, &cap, o->n + 1, sizeof(double));
  }
  if (!err) {
    cap = o->cap;
    err = grow((void **)&o->mtimes, &cap, o->n + 1, sizeof(double));
  }
  if (err) return err;
  o->cap = cap;
  if (grow((void **)&o->names, &o->names_cap, o->names_len + len + 1, 1)) return ENOMEM;
  if (o->n > 0) o->names[o->names_len++] = '/';
  memcpy(o->names + o->names_len, name, len);
  o->names_len += len;
  o->types[o->n] = (uint8_t)type;
  o->sizes[o->n] = size;
  o->mtimes[o->n] = mtime;
  o->n++;
  return 0;
}

/* Whether s[0..len) is one well-formed UTF-8 sequence of exactly `len` bytes (`avail` left). */
static int utf8_seq(const unsigned char *s, size_t avail, size_t len) {
  if (avail < len) return 0;
  unsigned char b = s[0];
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (len == 2) return b >= 0xc2 && b <= 0xdf;
  if (len == 3) {
    if (b == 0xe0) return s[1] >= 0xa0;
    if (b == 0xed) return s[1] <= 0x9f; /* not a surrogate */
    return b >= 0xe1 && b <= 0xef;
  }
  if (b == 0xf0) return s[1] >= 0x90;
  if (b == 0xf4) return s[1] <= 0x8f;
  return b >= 0xf1 && b <= 0xf3;
}

/* The length of the sequence a lead byte announces, as the JS path's escapeName reads it. */
static size_t lead_len(unsigned char b) {
  return b < 0x80 ? 1 : (b >= 0xc2 && b <= 0xdf) ? 2 : (b >= 0xe0 && b <= 0xef) ? 3 : 4;
}

static int utf8_valid(const char *name, size_t len) {
  const unsigned char *s = (const unsigned char *)name;
  for (size_t i = 0; i < len;) {
    size_t l = lead_len(s[i]);
    if (l > 1 && !utf8_seq(s + i, len - i, l)) return 0;
    i += l;
  }
  return 1;
}

/* Floor of seconds × 1000 + nanoseconds / 10^6, exact (nanoseconds are 0 ≤ ns < 10^9). */
static double ms_of(const struct timespec *t) {
  return (double)t->tv_sec * 1000.0 + (double)(t->tv_nsec / 1000000);
}

/* The directory and each ancestor up to the root, as device and inode (for loop checks). */
typedef struct {
  dev_t dev;
  ino_t ino;
} Id;

static int ancestor_ids(const char *path, const char *root, Id **ids, size_t *count) {
  size_t root_len = strlen(root);
  size_t cap = 0;
  char *p = strdup(path);
  if (!p) return ENOMEM;
  *count = 0;
  for (;;) {
    struct stat st;
    if (stat(p, &st) != 0) {
      int err = errno;
      free(p);
      return err;
    }
    if (grow((void **)ids, &cap, *count + 1, sizeof(Id))) {
      free(p);
      return ENOMEM;
    }
    (*ids)[*count].dev = st.st_dev;
    (*ids)[*count].ino = st.st_ino;
    (*count)++;
    size_t len = strlen(p);
    if (len <= root_len) break;
    char *cut = strrchr(p, '/');
    if (cut == p) {
      p[1] = '\0';
    } else {
      *cut = '\0';
    }
    if (strlen(p) < root_len) break;
  }
  free(p);
  return 0;
}

/*
 * Orders two names' offsets by the names' bytes; `base` is the names' buffer. Passed to
 * qsort_r, not held in a static: the listing threads (and the main thread, which lists too)
 * call this addon at once, and a static set by one thread's sort while another's ran made
 * that sort compare the wrong directory's bytes: a listing out of order, which the scan
 * decodes and stores no listing digest for (a first scan left a token on the directory, and
 * the next unchanged rescan wrote its row). That other buffer may be freed by then, too.
 */
static int by_bytes(const void *a, const void *b, void *base) {
  const char *names = base;
  return strcmp(names + *(const size_t *)a, names + *(const size_t *)b);
}

/*
 * Lists `path` into `o`. Returns 0, an errno (the directory fails whole, `o` is taken back by
 * the caller), or -1: the directory is large, list it as a stream.
 */
static int list_dir(Out *o, const char *path, const char *root, int follow, double large,
                    const char **syscall) {
  *syscall = "scandir";
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat dst;
  if (fstat(fd, &dst) != 0) {
    int err = errno;
    close(fd);
    return err;
  }
  if ((double)dst.st_size > large) {
    close(fd);
    return -1;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return err;
  }
  Names nm = {0};
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      err = errno;
      break;
    }
    const char *s = e->d_name;
    if (s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'))) continue;
    size_t len = strlen(s);
    if (grow((void **)&nm.bytes, &nm.cap, nm.len + len + 1, 1) ||
        grow((void **)&nm.offsets, &nm.ocap, nm.count + 1, sizeof(size_t))) {
      err = ENOMEM;
      break;
    }
    nm.offsets[nm.count++] = nm.len;
    memcpy(nm.bytes + nm.len, s, len + 1);
    nm.len += len + 1;
  }
  if (!err && nm.count > 1) {
    qsort_r(nm.offsets, nm.count, sizeof(size_t), by_bytes, nm.bytes);
  }
  size_t path_len = strlen(path);
  size_t base_len = path_len > 0 && path[path_len - 1] == '/' ? path_len : path_len + 1;
  Id *ids = NULL;
  size_t id_count = 0;
  int have_ids = 0;
  *syscall = "lstat";
  for (size_t i = 0; !err && i < nm.count; i++) {
    const char *name = nm.bytes + nm.offsets[i];
    size_t len = strlen(name);
    if (!utf8_valid(name, len)) {
      o->escaped = 1;
      err = out_push(o, name, len, T_UNREADABLE, 0, 0);
      continue;
    }
    /* The JS path names each entry by its full path: past PATH_MAX that fails the directory. */
    if (base_len + len >= PATH_MAX) {
      err = ENAMETOOLONG;
      break;
    }
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue; /* gone since getdents */
      err = errno;
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      if (!follow) {
        err = out_push(o, name, len, T_SYMLINK, 0, ms_of(&st.st_mtim));
        continue;
      }
      struct stat target;
      if (fstatat(fd, name, &target, 0) != 0) {
        err = out_push(o, name, len, errno == ELOOP ? T_LOOP : T_UNREADABLE, 0, 0);
        continue;
      }
      if (S_ISDIR(target.st_mode)) {
        if (!have_ids) {
          *syscall = "stat";
          err = ancestor_ids(path, root, &ids, &id_count);
          if (err) break;
          *syscall = "lstat";
          have_ids = 1;
        }
        int loop = 0;
        for (size_t k = 0; k < id_count; k++)
          if (ids[k].dev == target.st_dev && ids[k].ino == target.st_ino) loop = 1;
        if (loop) {
          err = out_push(o, name, len, T_LOOP, 0, 0);
          continue;
        }
      }
      st = target;
    }
    if (S_ISREG(st.st_mode))
      err = out_push(o, name, len, T_FILE, (double)st.st_size, ms_of(&st.st_mtim));
    else if (S_ISDIR(st.st_mode))
      err = out_push(o, name, len, T_DIR, 0, ms_of(&st.st_mtim));
    else
      err = out_push(o, name, len, T_SPECIAL, 0, 0);
  }
  free(ids);
  free(nm.bytes);
  free(nm.offsets);
  closedir(d);
  return err;
}

#define CHECK(call)                                                                            \
  do {                                                                                         \
    if ((call) != napi_ok) goto fail;                                                          \
  } while (0)

/* A typed array over a fresh (transferable) ArrayBuffer holding a copy of `data`. */
static napi_status typed(napi_env env, napi_typedarray_type type, const void *data, size_t n,
                         size_t size, napi_value *result) {
  void *dest;
  napi_value buffer;
  napi_status s = napi_create_arraybuffer(env, n * size, &dest, &buffer);
  if (s != napi_ok) return s;
  if (n) memcpy(dest, data, n * size);
  return napi_create_typedarray(env, type, n, buffer, 0, result);
}

/* The joined names as a JS string: UTF-8, or with every stray byte as U+DC00 + byte. */
static napi_status names_string(napi_env env, const Out *o, napi_value *result) {
  if (!o->escaped) return napi_create_string_utf8(env, o->names, o->names_len, result);
  char16_t *u = malloc((o->names_len + 1) * sizeof(char16_t));
  if (!u) return napi_generic_failure;
  const unsigned char *s = (const unsigned char *)o->names;
  size_t n = 0;
  for (size_t i = 0; i < o->names_len;) {
    unsigned char b = s[i];
    size_t l = lead_len(b);
    if (l == 1) {
      u[n++] = b;
      i++;
    } else if (!utf8_seq(s + i, o->names_len - i, l)) {
      u[n++] = (char16_t)(0xdc00 + b);
      i++;
    } else {
      uint32_t c = l == 2   ? (b & 0x1fu)
                   : l == 3 ? (b & 0x0fu)
                            : (b & 0x07u);
      for (size_t k = 1; k < l; k++) c = (c << 6) | (s[i + k] & 0x3fu);
      if (c >= 0x10000) {
        c -= 0x10000;
        u[n++] = (char16_t)(0xd800 + (c >> 10));
        u[n++] = (char16_t)(0xdc00 + (c & 0x3ff));
      } else {
        u[n++] = (char16_t)c;
      }
      i += l;
    }
  }
  napi_status st = napi_create_string_utf16(env, u, n, result);
  free(u);
  return st;
}

static napi_value error_object(napi_env env, int err, const char *syscall, const char *path) {
  napi_value obj, code, message;
  const char *name = err == -1 ? "TRAWL_STREAM" : uv_err_name(-err);
  char text[PATH_MAX + 256];
  if (err == -1)
    snprintf(text, sizeof text, "a large directory, listed as a stream");
  else
    snprintf(text, sizeof text, "%s: %s, %s '%s'", name, uv_strerror(-err), syscall, path);
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_set_named_property(env, obj, "code", code) != napi_ok ||
      napi_set_named_property(env, obj, "message", message) != napi_ok)
    return NULL;
  return obj;
}

/* A JS string argument as a C string (malloc'd), or NULL. */
static char *string_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/*
 * listDirs(dirs: string[], root: string, follow: boolean, large: number):
 *   { names, counts: Uint32Array, types: Uint8Array, sizes, mtimes: Float64Array,
 *     errors: Array<{ code, message } | null> }
 */
static napi_value list_dirs(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result = NULL, errors, value;
  Out o = {0};
  uint32_t *counts = NULL;
  char *root = NULL, *path = NULL;
  uint32_t ndirs;
  bool follow;
  double large;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "listDirs(dirs, root, follow, large)");
    return NULL;
  }
  CHECK(napi_get_array_length(env, argv[0], &ndirs));
  root = string_arg(env, argv[1]);
  if (!root) goto fail;
  CHECK(napi_get_value_bool(env, argv[2], &follow));
  CHECK(napi_get_value_double(env, argv[3], &large));
  counts = calloc(ndirs ? ndirs : 1, sizeof(uint32_t));
  if (!counts) goto fail;
  CHECK(napi_create_array_with_length(env, ndirs, &errors));
  for (uint32_t k = 0; k < ndirs; k++) {
    napi_value dir;
    CHECK(napi_get_element(env, argv[0], k, &dir));
    free(path);
    path = string_arg(env, dir);
    if (!path) goto fail;
    size_t n0 = o.n, len0 = o.names_len;
    const char *syscall;
    int err = list_dir(&o, path, root, follow, large, &syscall);
    if (err) {
      /* Never a partial listing: what this directory pushed is taken back. */
      o.n = n0;
      o.names_len = len0;
      value = error_object(env, err, syscall, path);
      if (!value) goto fail;
    } else {
      CHECK(napi_get_null(env, &value));
    }
    CHECK(napi_set_element(env, errors, k, value));
    counts[k] = (uint32_t)(o.n - n0);
  }
  CHECK(napi_create_object(env, &result));
  CHECK(names_string(env, &o, &value));
  CHECK(napi_set_named_property(env, result, "names", value));
  CHECK(typed(env, napi_uint32_array, counts, ndirs, sizeof(uint32_t), &value));
  CHECK(napi_set_named_property(env, result, "counts", value));
  CHECK(typed(env, napi_uint8_array, o.types, o.n, 1, &value));
  CHECK(napi_set_named_property(env, result, "types", value));
  CHECK(typed(env, napi_float64_array, o.sizes, o.n, sizeof(double), &value));
  CHECK(napi_set_named_property(env, result, "sizes", value));
  CHECK(typed(env, napi_float64_array, o.mtimes, o.n, sizeof(double), &value));
  CHECK(napi_set_named_property(env, result, "mtimes", value));
  CHECK(napi_set_named_property(env, result, "errors", errors));
  goto done;
fail:
  result = NULL;
  {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "native listing failed (out of memory?)");
  }
done:
  free(o.names);
  free(o.types);
  free(o.sizes);
  free(o.mtimes);
  free(counts);
  free(root);
  free(path);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "listDirs", NAPI_AUTO_LENGTH, list_dirs, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "listDirs", fn) != napi_ok)
    return NULL;
  return exports;
}
