# One INTERFACE target that every Mantissa library, program, test and benchmark
# links: language level, warnings and sanitizers are decided here only.

add_library(mantissa_options INTERFACE)
add_library(mantissa::options ALIAS mantissa_options)

# CAF 0.17's headers compile cleanly as C++20 with GCC 12.
target_compile_features(mantissa_options INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_options(mantissa_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow
  # Aggregate initialisation that omits trailing members with defaults is how
  # declarations (type_decl, options) are meant to be written.
  -Wno-missing-field-initializers)
# GCC 12 reports false -Wrestrict warnings for `"literal" + std::string` at
# -O2 (GCC bug 105651); they are not actionable.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(mantissa_options INTERFACE -Wno-restrict)
endif()
if(MANTISSA_WERROR)
  target_compile_options(mantissa_options INTERFACE -Werror)
endif()

if(MANTISSA_SANITIZERS)
  string(REPLACE " " "" _mantissa_san "${MANTISSA_SANITIZERS}")
  if(_mantissa_san MATCHES "thread" AND _mantissa_san MATCHES "address")
    message(FATAL_ERROR "thread and address sanitizers cannot be combined")
  endif()
  target_compile_options(mantissa_options INTERFACE
    -fsanitize=${_mantissa_san} -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  target_link_options(mantissa_options INTERFACE -fsanitize=${_mantissa_san})
  # Asio's handler fences (std_fenced_block) make GCC warn that TSan does not
  # model atomic_thread_fence; the handoffs they guard also go through the
  # scheduler's mutex, which TSan does see.
  if(_mantissa_san MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(mantissa_options INTERFACE -Wno-tsan)
  endif()
  message(STATUS "Mantissa: building with sanitizers ${_mantissa_san}")
endif()

# libFuzzer (fuzz/): coverage instrumentation in every library, the fuzzer
# runtime only in the fuzz targets themselves.
if(MANTISSA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MANTISSA_FUZZ needs Clang (libFuzzer); configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  target_compile_options(mantissa_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
