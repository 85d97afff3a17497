# HEARTMULA_SANITIZE=ON (= address,undefined) or a list such as "address,undefined": every
# target of the project is compiled and linked with -fsanitize=<list> (g++ or clang). LibTorch
# itself is not instrumented. Every executable also gets tests/sanitizer/sanitizer_defaults.cpp:
# the ASan / UBSan / LSan default options and the LSan suppressions for LibTorch's own
# allocations (tests/sanitizer/lsan.supp), compiled in so that ctest, the e2e tests' child
# processes and hand runs all use them without environment variables.
if(HEARTMULA_SANITIZE MATCHES "^(ON|On|on|TRUE|True|true|YES|Yes|yes|1)$")
  set(HEARTMULA_SANITIZERS address,undefined)
else()
  set(HEARTMULA_SANITIZERS ${HEARTMULA_SANITIZE})
endif()
message(STATUS "heartmula: sanitizers ${HEARTMULA_SANITIZERS}")
target_compile_options(heartmula_options INTERFACE
  -fsanitize=${HEARTMULA_SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=all -g1)
target_link_options(heartmula_options INTERFACE -fsanitize=${HEARTMULA_SANITIZERS})

# Adds the defaults file to every executable target under `dir` (recursively).
function(heartmula_sanitize_executables dir)
  get_property(_targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_targets})
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "EXECUTABLE")
      target_sources(${_t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/sanitizer/sanitizer_defaults.cpp)
      target_compile_definitions(${_t} PRIVATE
        HEARTMULA_LSAN_SUPPRESSIONS="${PROJECT_SOURCE_DIR}/tests/sanitizer/lsan.supp")
      target_compile_options(${_t} PRIVATE -fsanitize=${HEARTMULA_SANITIZERS})
      target_link_options(${_t} PRIVATE -fsanitize=${HEARTMULA_SANITIZERS})
    endif()
  endforeach()
  get_property(_subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(_d ${_subdirs})
    heartmula_sanitize_executables(${_d})
  endforeach()
endfunction()
# Run once every directory has been read (the end of the top-level CMakeLists.txt).
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL heartmula_sanitize_executables ${PROJECT_SOURCE_DIR})
