#pragma once

#include <optional>
#include <string>

/// Failpoints: named places where a test makes the node stop, fail or wait
/// (docs/operations.md, "Testing interrupted operations: failpoints").
///
/// A failpoint is armed from the environment variable `MANTISSA_FAILPOINTS`
/// (comma-separated items `name` or `name=value`, read once, for child
/// processes) or at run time with `arm_failpoint` (for in-process tests).
/// While nothing is armed, a check costs one relaxed atomic load. Every
/// function here is thread-safe.
namespace mantissa::actors::internal {

/// Does nothing unless `name` is armed. Then it writes
/// `mantissa: failpoint NAME reached` to stderr and blocks the calling
/// thread for a minute, so that a test can kill -9 the process at exactly
/// that step. Call it only on threads of their own (detached actors),
/// never on the scheduler's.
void failpoint(const char* name);

/// Whether `name` is armed, for failpoints that change what is done
/// instead of stopping (`backup.corrupt_chunk`: the streamer damages the
/// first chunk it sends, so that a test sees it refused).
[[nodiscard]] bool failpoint_armed(const char* name);

/// The value `name` is armed with ("" for a bare name), or nothing when
/// it is not armed. An item armed at run time hides one of the same name
/// from the environment.
[[nodiscard]] std::optional<std::string> failpoint_value(const char* name);

/// Arms `name` with `value` in this process until `disarm_failpoint`
/// (replacing an earlier value). For tests; never call it in production.
void arm_failpoint(const std::string& name, const std::string& value = {});

/// Disarms `name`, also when the environment armed it.
void disarm_failpoint(const std::string& name);

/// Arms a failpoint for the lifetime of the object (a test's scope).
class scoped_failpoint {
 public:
  scoped_failpoint(std::string name, const std::string& value = {})
    : name_(std::move(name)) {
    arm_failpoint(name_, value);
  }
  ~scoped_failpoint() { disarm_failpoint(name_); }
  scoped_failpoint(const scoped_failpoint&) = delete;
  scoped_failpoint& operator=(const scoped_failpoint&) = delete;

 private:
  std::string name_;
};

} // namespace mantissa::actors::internal
