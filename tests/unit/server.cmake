# heartmula-server's pieces without a model (tools/server/): request bodies, the song queue,
# key comparison, loopback hosts. Built only with the server.
if(HEARTMULA_WITH_SERVER)
  heartmula_add_test(test_server_parts
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_server_parts.cpp
    LIBS heartmula_server
    LABEL unit)
endif()
