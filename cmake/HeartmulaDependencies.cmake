# Finds every third-party dependency. Works with Debian 12's packages and with a pip LibTorch
# plus libraries unpacked from Debian packages under a prefix (scripts/device-build.sh).

# Which LibTorch, in this order (the choice is printed):
#   1. -DCMAKE_PREFIX_PATH / -DTorch_DIR when they lead to one;
#   2. the torch of the `python3` on PATH when it imports (a pip CUDA or XPU wheel: after
#      `pip install torch` the README's commands give a GPU build without extra flags);
#   3. Debian's libtorch-dev (scripts/install-deps.sh).
# -DHEARTMULA_TORCH_FROM_PYTHON=OFF skips 2.
option(HEARTMULA_TORCH_FROM_PYTHON "Use the LibTorch of python3's torch when none is named" ON)
# A prefix that scripts/install-deps.sh --debs unpacked Debian packages into (machines without a
# package registry, e.g. the GPU machine): searched like a system prefix, its libraries in the RPATH.
set(HEARTMULA_DEPS_PREFIX "/opt/heartmula-deps" CACHE PATH "Prefix of Debian packages unpacked by install-deps.sh --debs")
if(EXISTS "${HEARTMULA_DEPS_PREFIX}/usr/include")
  list(APPEND CMAKE_PREFIX_PATH "${HEARTMULA_DEPS_PREFIX}/usr")
  set(_deps_lib "${HEARTMULA_DEPS_PREFIX}/usr/lib/x86_64-linux-gnu")
  list(APPEND CMAKE_BUILD_RPATH "${_deps_lib}")
  list(APPEND CMAKE_INSTALL_RPATH "${_deps_lib}")
  # DT_RPATH (not RUNPATH), so that libsndfile's own dependencies are found there too.
  add_link_options("LINKER:--disable-new-dtags")
  message(STATUS "heartmula: libraries unpacked under ${HEARTMULA_DEPS_PREFIX} (install-deps.sh --debs)")
endif()
set(_torch_from "${HEARTMULA_TORCH_SOURCE}")  # what an earlier configure of this build chose
if(_torch_from)
elseif(DEFINED Torch_DIR OR DEFINED ENV{Torch_DIR})
  set(_torch_from "Torch_DIR")
elseif(CMAKE_PREFIX_PATH)
  find_package(Torch QUIET PATHS ${CMAKE_PREFIX_PATH} NO_DEFAULT_PATH)
  if(Torch_FOUND)
    set(_torch_from "CMAKE_PREFIX_PATH")
  endif()
endif()
if(NOT _torch_from AND HEARTMULA_TORCH_FROM_PYTHON)
  execute_process(COMMAND python3 -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _py_torch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _py_rc)
  if(_py_rc EQUAL 0 AND EXISTS "${_py_torch}/Torch/TorchConfig.cmake")
    set(Torch_DIR "${_py_torch}/Torch" CACHE PATH "LibTorch of python3's torch" FORCE)
    set(_torch_from "python3's torch (${_py_torch})")
  endif()
endif()
if(NOT _torch_from)
  set(_torch_from "the system (Debian's libtorch-dev)")
endif()
find_package(Torch REQUIRED)
set(HEARTMULA_TORCH_SOURCE "${_torch_from}" CACHE INTERNAL "where the LibTorch in use came from")
message(STATUS "heartmula: LibTorch from ${_torch_from}: ${Torch_DIR}")
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

# cpp-httplib (Debian's libcpp-httplib-dev) for tools/heartmula-server only. Debian ships the
# header split from its implementation (libcpp-httplib.so), built with OpenSSL, zlib and Brotli:
# the header must be compiled with the same CPPHTTPLIB_* macros (its cpp-httplib.pc says so, and
# class layouts differ without them), so their headers are needed too. Anything missing: the
# server is not built (a message says why); the rest of the build goes on.
set(HEARTMULA_WITH_SERVER OFF)
find_path(HTTPLIB_INCLUDE_DIR httplib.h PATH_SUFFIXES include)
find_library(HTTPLIB_LIBRARY NAMES cpp-httplib PATH_SUFFIXES lib/x86_64-linux-gnu lib)
find_path(HTTPLIB_OPENSSL_INCLUDE_DIR openssl/ssl.h PATH_SUFFIXES include)
find_path(HTTPLIB_OPENSSLCONF_INCLUDE_DIR openssl/opensslconf.h PATH_SUFFIXES include/x86_64-linux-gnu include)
find_path(HTTPLIB_ZLIB_INCLUDE_DIR zlib.h PATH_SUFFIXES include)
find_path(HTTPLIB_BROTLI_INCLUDE_DIR brotli/decode.h PATH_SUFFIXES include)
set(_httplib_missing)
foreach(_v HTTPLIB_INCLUDE_DIR HTTPLIB_LIBRARY HTTPLIB_OPENSSL_INCLUDE_DIR HTTPLIB_OPENSSLCONF_INCLUDE_DIR
           HTTPLIB_ZLIB_INCLUDE_DIR HTTPLIB_BROTLI_INCLUDE_DIR)
  if(NOT ${_v})
    list(APPEND _httplib_missing ${_v})
  endif()
endforeach()
if(_httplib_missing)
  message(STATUS "heartmula: heartmula-server NOT built: cpp-httplib or a header it needs is missing "
                 "(${_httplib_missing}); run scripts/install-deps.sh (libcpp-httplib-dev)")
else()
  add_library(heartmula::httplib UNKNOWN IMPORTED)
  set_target_properties(heartmula::httplib PROPERTIES
    IMPORTED_LOCATION ${HTTPLIB_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES "${HTTPLIB_INCLUDE_DIR};${HTTPLIB_OPENSSL_INCLUDE_DIR};${HTTPLIB_OPENSSLCONF_INCLUDE_DIR};${HTTPLIB_ZLIB_INCLUDE_DIR};${HTTPLIB_BROTLI_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "CPPHTTPLIB_OPENSSL_SUPPORT;CPPHTTPLIB_ZLIB_SUPPORT;CPPHTTPLIB_BROTLI_SUPPORT"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  set(HEARTMULA_WITH_SERVER ON)
  message(STATUS "heartmula: cpp-httplib: ${HTTPLIB_LIBRARY} (heartmula-server is built)")
endif()
