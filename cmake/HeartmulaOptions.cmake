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

# CUDA builds: a static library `name` of nvcc-compiled kernels (ARGN: the .cu sources of one
# layer's cuda/ folder; they include no LibTorch headers). Their include root is src/: a layer's
# kernels include their own headers and the shared device helpers of the bottom layer,
# src/io/cuda/ (header-only: convert.cuh, device_props.cuh, dtype_code.h), which every layer
# already depends on. A macro: enable_language() must run at directory scope.
macro(heartmula_add_cuda_kernels name)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  if(NOT CMAKE_CUDA_HOST_COMPILER)
    set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
  endif()
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 86 89 90)
  endif()
  enable_language(CUDA)
  add_library(${name} STATIC ${ARGN})
  set_target_properties(${name} PROPERTIES CUDA_STANDARD 17 POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
endmacro()
