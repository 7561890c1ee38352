// A plugin that claims another offering API version: a node must refuse it
// without ever calling mantissa_offering().

#include <cstdlib>

#include "offerings/offering.hpp"

extern "C" __attribute__((visibility("default"))) int
mantissa_offering_api_version() {
  return mantissa::offerings::api_version + 1;
}

extern "C" __attribute__((visibility("default")))
const mantissa::offerings::offering*
mantissa_offering() {
  std::abort(); // never reached: the version check comes first
}
