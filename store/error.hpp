#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mantissa::store {

/// Error codes of the store layer. Every fallible store function returns one
/// of these inside a `result`; nothing in this layer throws for control flow.
enum class errc : std::uint8_t {
  io_error = 1,       ///< The file could not be read or written.
  corrupt,            ///< The file is damaged or truncated.
  not_a_database,     ///< The file exists but is not an SQLite database.
  read_only,          ///< The file or its directory cannot be written.
  busy,               ///< Another process holds the database lock.
  constraint,         ///< A uniqueness or other SQL constraint failed.
  invalid_name,       ///< A type, attribute or interface name is malformed.
  invalid_value,      ///< A value does not fit its attribute.
  no_such_type,       ///< The type is not declared in the registry or store.
  no_such_item,       ///< No item of that type has that id.
  no_such_attribute,  ///< The type has no attribute of that name.
  invalid_query,      ///< A query is malformed (unknown operator, bad shape).
  disallowed,         ///< A delete was refused by a `disallow` reference.
  in_use,             ///< A powerup is still needed by another one.
  already_exists,     ///< Creating something that exists already.
  version_too_new,    ///< The store was written by a newer schema or format.
  no_upgrade_path,    ///< Old items exist and no upgrader reaches the current version.
  internal,           ///< A bug: an invariant of the store did not hold.
  forbidden,          ///< The caller's role may not do this (used by handlers).
};

/// The name of an error code, e.g. `"no_such_item"`.
[[nodiscard]] std::string_view to_string(errc code) noexcept;

/// An error value: a code plus a human-readable message that names the
/// offending thing (type, attribute, file, operator).
struct error {
  errc code;
  std::string message;
};

/// Either a `T` or an `error`. Minimal on purpose: the store layer has no CAF
/// dependency, and `std::expected` is C++23.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  result(error err) : data_(std::move(err)) {}  // NOLINT: implicit by design
  result(errc code, std::string message)
    : data_(error{code, std::move(message)}) {}

  [[nodiscard]] bool has_value() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& error_value() const& { return std::get<1>(data_); }
  error&& error_value() && { return std::get<1>(std::move(data_)); }
  [[nodiscard]] errc code() const { return std::get<1>(data_).code; }

 private:
  std::variant<T, error> data_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error err) : err_(std::move(err)), ok_(false) {}  // NOLINT
  result(errc code, std::string message)
    : err_{code, std::move(message)}, ok_(false) {}

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const error& error_value() const& { return err_; }
  error&& error_value() && { return std::move(err_); }
  [[nodiscard]] errc code() const { return err_.code; }

 private:
  error err_{errc::internal, {}};
  bool ok_ = true;
};

#define MANTISSA_TRY_CONCAT_(a, b) a##b
#define MANTISSA_TRY_NAME_(n) MANTISSA_TRY_CONCAT_(mantissa_try_r_, n)
#define MANTISSA_TRY_IMPL_(name, expr)                                         \
  do {                                                                         \
    if (auto name = (expr); !name)                                             \
      return std::move(name).error_value();                                    \
  } while (false)

/// Evaluates `expr` (a `result`) and returns its error from the enclosing
/// function when it failed.
#define MANTISSA_TRY(expr) MANTISSA_TRY_IMPL_(MANTISSA_TRY_NAME_(__COUNTER__), expr)

/// Evaluates `expr` (a `result<T>`) into a new local `var` and returns its
/// error from the enclosing function when it failed; `*var` is the value
/// afterwards. A declaration: use it as a statement of a block.
#define MANTISSA_TRY_LET(var, expr)                                            \
  auto var = (expr);                                                           \
  if (!var)                                                                    \
  return std::move(var).error_value()

} // namespace mantissa::store
