# Finds every third-party dependency. Works with Debian 12's packages and with a pip LibTorch
# plus libraries unpacked from Debian packages under a prefix (scripts/device-build.sh).

find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${CLI11_INCLUDE_DIR})
endif()

# Libraries located with find_path/find_library (not pkg-config: the Debian .pc files say
# prefix=/usr, which is wrong when the packages are unpacked under another prefix).
function(heartmula_find_lib target header lib)
  find_path(${target}_INCLUDE_DIR ${header} PATH_SUFFIXES include)
  find_library(${target}_LIBRARY NAMES ${lib} PATH_SUFFIXES lib/x86_64-linux-gnu lib)
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "heartmula: ${lib} not found (header ${header}). Run scripts/install-deps.sh.")
  endif()
  add_library(heartmula::${target} UNKNOWN IMPORTED)
  set_target_properties(heartmula::${target} PROPERTIES
    IMPORTED_LOCATION ${${target}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${${target}_INCLUDE_DIR})
  message(STATUS "heartmula: ${lib}: ${${target}_LIBRARY}")
endfunction()

heartmula_find_lib(sndfile sndfile.h sndfile)
heartmula_find_lib(mp3lame lame/lame.h mp3lame)
heartmula_find_lib(pcre2 pcre2.h pcre2-8)

# Which backends the LibTorch in use was built with. Device-specific sources compile only then.
set(HEARTMULA_WITH_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(HEARTMULA_WITH_CUDA ON)
endif()
# XPU: CUDA and CPU wheels ship torch/xpu.h too, so look for the header only XPU builds
# generate (c10/xpu/impl/xpu_cmake_macros.h).
set(HEARTMULA_WITH_XPU OFF)
foreach(dir ${TORCH_INCLUDE_DIRS})
  if(EXISTS "${dir}/torch/xpu.h" AND EXISTS "${dir}/c10/xpu/impl/xpu_cmake_macros.h")
    set(HEARTMULA_WITH_XPU ON)
  endif()
endforeach()
message(STATUS "heartmula: LibTorch ${Torch_VERSION}, CUDA=${HEARTMULA_WITH_CUDA}, XPU=${HEARTMULA_WITH_XPU}")

# Torch's flags (ABI, etc.) come through the torch target; keep the variable for old configs.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
