# heartmula-server end to end (tests/e2e/test_server.cpp), built only with the server.
if(HEARTMULA_WITH_SERVER)
  heartmula_test_executable(test_server
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/gen_test_util.cpp ${CMAKE_CURRENT_LIST_DIR}/test_server.cpp
            ${CMAKE_CURRENT_LIST_DIR}/test_server_stream.cpp ${CMAKE_CURRENT_LIST_DIR}/test_server_clients.cpp
    LIBS heartmula::httplib nlohmann_json::nlohmann_json)
  add_dependencies(test_server heartmula-gen heartmula-server)
  add_test(NAME e2e_server COMMAND test_server --gtest_filter=-ServerTest.FiftyConcurrentClients)
  set_tests_properties(e2e_server PROPERTIES LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 900)
  # 50 clients at once: its own entry, with its own limit, labelled "load" (not "e2e"): it runs in
  # the README's test command (release build), not in the sanitizer job, where its 50 songs take
  # longer than its time bound (CI proof of 9dab055: still queued after 240 s under ASan).
  add_test(NAME e2e_server_clients COMMAND test_server --gtest_filter=ServerTest.FiftyConcurrentClients)
  set_tests_properties(e2e_server_clients PROPERTIES LABELS load FIXTURES_REQUIRED test_assets TIMEOUT 300)
endif()
