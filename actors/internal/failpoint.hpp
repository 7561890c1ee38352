#pragma once

/// Failpoints for the tests that kill a node at a chosen step of a long
/// operation (docs/operations.md, "Testing interrupted operations").
///
/// `failpoint("move.applied")` does nothing unless the environment
/// variable `MANTISSA_FAILPOINTS` lists that name (comma-separated). Then
/// it writes `mantissa: failpoint move.applied reached` to stderr and
/// blocks the calling thread for a minute, so that a test can kill -9 the
/// process at exactly that step. Call it only on threads of their own
/// (detached actors), never on the scheduler's.
namespace mantissa::actors::internal {

void failpoint(const char* name);

/// Whether `MANTISSA_FAILPOINTS` lists `name`, for failpoints that change
/// what is done instead of stopping (`backup.corrupt_chunk`: the streamer
/// damages the first chunk it sends, so that a test sees it refused).
[[nodiscard]] bool failpoint_armed(const char* name);

} // namespace mantissa::actors::internal
