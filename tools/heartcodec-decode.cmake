add_executable(heartcodec-decode ${CMAKE_CURRENT_LIST_DIR}/heartcodec-decode.cpp)
target_link_libraries(heartcodec-decode PRIVATE heartmula_runtime heartmula_codec heartmula_io CLI11::CLI11)
