#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include "wire/error_code.hpp"
#include "store/error.hpp"

namespace mantissa::actors {

/// Maps a store-layer error code to the actor layer's.
[[nodiscard]] error_code from_store(store::errc code) noexcept;

/// Builds a `caf::error` carrying `code` and `message`.
[[nodiscard]] caf::error make_error(error_code code, std::string message);

/// Converts a store-layer error.
[[nodiscard]] caf::error make_error(const store::error& err);

/// The text of the answer for a store that does not exist, which is also
/// the answer for a store a caller may not see (nothing of it is theirs or
/// shared with them): one text, so existence does not leak.
[[nodiscard]] std::string no_store_message(const std::string& address);
/// `no_such_store` with `no_store_message`.
[[nodiscard]] caf::error no_store_error(const std::string& address);

/// The message text inside an error made by `make_error`, or CAF's rendering
/// of any other error.
[[nodiscard]] std::string error_message(const caf::error& err);

/// The actor-layer code of `err`, or `error_code::internal` for errors of
/// another category (CAF's own, e.g. a timeout, map to their closest code).
[[nodiscard]] error_code code_of(const caf::error& err) noexcept;

} // namespace mantissa::actors

CAF_ERROR_CODE_ENUM(mantissa::actors::error_code, "mantissa")
