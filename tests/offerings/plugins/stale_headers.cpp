// A plugin of the right API version built against other offering headers
// (it reports another size of `offering`): a node must refuse it without
// calling mantissa_offering().

#include <cstdlib>

#include "offerings/offering.hpp"

extern "C" __attribute__((visibility("default"))) int
mantissa_offering_api_version() {
  return mantissa::offerings::api_version;
}

extern "C" __attribute__((visibility("default"))) std::size_t
mantissa_offering_size() {
  return sizeof(mantissa::offerings::offering) + 8;
}

extern "C" __attribute__((visibility("default")))
const mantissa::offerings::offering* mantissa_offering() {
  std::abort(); // never reached: the size check comes first
}
