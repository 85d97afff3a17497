# heartmula-server: the model loaded once behind an HTTP API and a web page (docs/server.md).
# Built only when cpp-httplib was found (cmake/HeartmulaDependencies.cmake says why not).
if(HEARTMULA_WITH_SERVER)
  # The server's pieces (request parsing, the song queue, the HTTP routes, the page) as a library
  # of their own, so that tests reach them without the main.
  add_library(heartmula_server STATIC
    ${CMAKE_CURRENT_LIST_DIR}/server/song_request_json.cpp
    ${CMAKE_CURRENT_LIST_DIR}/server/audio_stream.cpp
    ${CMAKE_CURRENT_LIST_DIR}/server/song_queue.cpp
    ${CMAKE_CURRENT_LIST_DIR}/server/http_api.cpp
    ${CMAKE_CURRENT_LIST_DIR}/server/web_page.cpp)
  target_include_directories(heartmula_server PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(heartmula_server PUBLIC heartmula_runtime heartmula::httplib nlohmann_json::nlohmann_json
                        Threads::Threads)
  add_executable(heartmula-server ${CMAKE_CURRENT_LIST_DIR}/heartmula-server.cpp)
  target_link_libraries(heartmula-server PRIVATE heartmula_server CLI11::CLI11)
endif()
