#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>

/// Seeds and sizes of randomized tests (docs/architecture.md, "Tests").
namespace mantissa::test {

/// The seed of a randomized test: `MANTISSA_SEED` when set (a replay;
/// `MANTISSA_TEST_SEED`, the older name, is read too), else a fresh one from
/// `std::random_device`, so that each run explores another case. Printed on
/// stdout as "<name>: seed N (MANTISSA_SEED=N replays it)"; the caller also
/// puts it in an `INFO` so that a failure shows it. A value that is not a
/// number throws `std::invalid_argument` naming the variable.
inline std::uint32_t test_seed(const std::string& name) {
  std::uint32_t seed = 0;
  bool given = false;
  for (auto var : {"MANTISSA_SEED", "MANTISSA_TEST_SEED"}) {
    const char* s = std::getenv(var);
    if (s == nullptr || *s == '\0')
      continue;
    char* end = nullptr;
    errno = 0;
    auto v = std::strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > 0xFFFFFFFFull)
      throw std::invalid_argument(std::string{var}
                                  + " must be a number from 0 to 4294967295, not \""
                                  + s + "\"");
    seed = static_cast<std::uint32_t>(v);
    given = true;
    break;
  }
  if (!given)
    seed = std::random_device{}();
  std::cout << name << ": seed " << seed << " (MANTISSA_SEED=" << seed
            << " replays it)" << std::endl;
  return seed;
}

/// The size a randomized matrix runs at: `MANTISSA_MATRIX_SIZE=nightly` for
/// the long run, else (unset or "default") the size every CI run uses.
/// Another value throws `std::invalid_argument`.
inline bool nightly_size() {
  const char* s = std::getenv("MANTISSA_MATRIX_SIZE");
  if (s == nullptr || *s == '\0' || std::string{s} == "default")
    return false;
  if (std::string{s} == "nightly")
    return true;
  throw std::invalid_argument(std::string{"MANTISSA_MATRIX_SIZE must be "
                                          "\"default\" or \"nightly\", not \""}
                              + s + "\"");
}

} // namespace mantissa::test
