// A shared library that is not an offering plugin: it exports neither
// mantissa_offering_api_version() nor mantissa_offering().

extern "C" __attribute__((visibility("default"))) int not_an_offering() {
  return 42;
}
