# The CTest fixture "examples: …" (tests/CMakeLists.txt): installs the build
# tree into <build>/install, then configures and builds each project of
# docs/examples out of tree against that package, as custom-actor.md and
# writing-an-offering.md tell a reader to, into <build>/examples/<name>.
# Fails (and so fails every test that needs an example) on the first step
# that fails, printing that step's output.
#
#   cmake -DBUILD_DIR=… -DEXAMPLES_DIR=… -DGENERATOR=… -DBUILD_TYPE=…
#         -DCXX_COMPILER=… [-DLAUNCHER=…] [-DSANITIZERS=address,undefined]
#         -P build_examples.cmake
#
# The examples get the build's compiler, build type and compiler launcher
# (ccache), and with SANITIZERS the build's sanitizer flags, so that a
# plugin is loaded into a `mantissa` built the same way.

foreach(var BUILD_DIR EXAMPLES_DIR GENERATOR BUILD_TYPE CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "build_examples.cmake: -D${var}=… is missing")
  endif()
endforeach()

function(step what)
  string(TIMESTAMP started "%s")
  execute_process(COMMAND ${ARGN}
                  RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP ended "%s")
  math(EXPR seconds "${ended} - ${started}")
  if(NOT rc EQUAL 0)
    message("${out}")
    message(FATAL_ERROR "examples: ${what} failed (${rc}): ${ARGN}")
  endif()
  message(STATUS "examples: ${what}: ${seconds} s")
endfunction()

set(prefix "${BUILD_DIR}/install")
step("install the build into ${prefix}"
     "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")

set(flags "")
if(NOT "${SANITIZERS}" STREQUAL "")
  set(flags "-fsanitize=${SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=undefined")
endif()
set(launcher "")
if(NOT "${LAUNCHER}" STREQUAL "")
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()

foreach(example custom_actor offering)
  set(out "${BUILD_DIR}/examples/${example}")
  step("configure docs/examples/${example}"
       "${CMAKE_COMMAND}" -S "${EXAMPLES_DIR}/${example}" -B "${out}"
       -G "${GENERATOR}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
       "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" ${launcher}
       "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_PREFIX_PATH=${prefix}")
  step("build docs/examples/${example} into ${out}"
       "${CMAKE_COMMAND}" --build "${out}")
endforeach()
