# Warning and sanitizer settings as INTERFACE targets: a target opts in by linking them.
add_library(taskwire_warnings INTERFACE)
target_compile_options(taskwire_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(taskwire_warnings INTERFACE -Wthread-safety)
endif()
if(TASKWIRE_WERROR)
  target_compile_options(taskwire_warnings INTERFACE -Werror)
endif()

# The sanitizers apply to the whole build, so that every library and test is instrumented.
if(TASKWIRE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer: coverage instrumentation everywhere, the fuzzer's main only in the fuzz targets
# (tests/fuzz). Asserts stay live whatever the build type: they are what the fuzzers hunt.
if(TASKWIRE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TASKWIRE_FUZZ needs clang (-DCMAKE_CXX_COMPILER=clang++-14)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -UNDEBUG)
  add_link_options(-fsanitize=address,undefined)
endif()
