{
  "targets": [
    {
      "target_name": "trawl_listing",
      "sources": ["native/listing.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
