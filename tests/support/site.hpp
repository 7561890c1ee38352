#pragma once

// A site for the tests of the offline commands: a temporary data
// directory that `mantissa` (the program this test was built with,
// MANTISSA_BINARY) runs on as a separate process, and a look into its
// store files with SQLite itself. Header-only; its tests link SQLite.

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace mantissa::test {

struct site_fixture {
  temp_dir dir;
  std::string data = (dir / "data").string();

  /// Runs `mantissa ARGS --data DATA` with `input` on its stdin.
  run_result cmd(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), MANTISSA_BINARY);
    args.push_back("--data");
    args.push_back(data);
    return run(args, input);
  }

  /// One value from a store file, read with SQLite itself.
  static std::string sql(const std::filesystem::path& file,
                         const std::string& query) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr)
            == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr)
            == SQLITE_OK);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
};

} // namespace mantissa::test
