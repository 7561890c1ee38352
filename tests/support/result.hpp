#pragma once

#include <utility>

#include <catch2/catch.hpp>

#include "store/error.hpp"

namespace mantissa::test {

/// The value of `r`; fails the test with the error message otherwise.
template <class T>
T ok(store::result<T> r) {
  if (!r)
    FAIL(to_string(r.code()) << ": " << r.error_value().message);
  return std::move(r).value();
}

} // namespace mantissa::test
