# Compiler options shared by every target of the project.
add_library(heartmula_options INTERFACE)
target_compile_options(heartmula_options INTERFACE -Wall -Wextra -Wno-unused-parameter)
target_include_directories(heartmula_options INTERFACE
  ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(heartmula_options INTERFACE
  HEARTMULA_VERSION="${PROJECT_VERSION}")
if(HEARTMULA_SANITIZE)
  include(HeartmulaSanitize)  # ASan + UBSan (+ LSan), default options compiled into executables
endif()
if(HEARTMULA_FUZZ)
  # Every library gets libFuzzer's coverage instrumentation + ASan/UBSan; the fuzz targets in
  # tests/fuzz add libFuzzer's main.
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HEARTMULA_FUZZ=ON needs clang (CC=clang CXX=clang++)")
  endif()
  target_compile_options(heartmula_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g)
  target_link_options(heartmula_options INTERFACE -fsanitize=address,undefined)
endif()

# heartmula_add_library(NAME SOURCES... [DEPS ...])
function(heartmula_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC heartmula_options ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
