#pragma once

#include <utility>

#include "store/error.hpp"

// The value-taking companion of MANTISSA_TRY (store/error.hpp), for the
// store's own .cpp files.

#define MANTISSA_TRY_ASSIGN_IMPL_(tmp, lhs, expr)                              \
  auto tmp = (expr);                                                          \
  if (!tmp)                                                                   \
    return std::move(tmp).error_value();                                      \
  lhs = std::move(tmp).value()

/// Evaluates `expr` (a `result<T>`): returns its error from the enclosing
/// function when it failed, else moves its value into `lhs` (a declaration
/// such as `auto x`, or a variable). A statement, not an expression.
#define MANTISSA_TRY_ASSIGN(lhs, expr)                                        \
  MANTISSA_TRY_ASSIGN_IMPL_(MANTISSA_TRY_NAME_(__COUNTER__), lhs, expr)
