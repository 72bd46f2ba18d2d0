/** This trawl's version, as `trawl --version` prints it (package.json's). */
export const VERSION = '0.1.0';
