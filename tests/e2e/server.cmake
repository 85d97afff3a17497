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

  # The page in a real browser (browser_page_test.py, Python standard library only): headless
  # Chromium driven over the DevTools protocol loads /, submits the form (an MP3, then a WAV
  # song), waits until each song's <audio> has a duration, fails on any console error, and
  # keeps a screenshot in artifacts/. Chromium missing makes the test FAIL, not skip (CI
  # installs it: scripts/install-deps.sh); CMake says so here when it does not find one.
  find_package(Python3 COMPONENTS Interpreter)
  set(_python python3)
  if(Python3_Interpreter_FOUND)
    set(_python ${Python3_EXECUTABLE})
  endif()
  find_program(HEARTMULA_CHROMIUM NAMES chromium-headless-shell chromium
    DOC "Chromium for the e2e_server_page test (Debian: chromium-headless-shell)")
  set(_browser "")
  if(HEARTMULA_CHROMIUM)
    set(_browser ${HEARTMULA_CHROMIUM})
  else()
    message(STATUS "heartmula: no Chromium found: the test e2e_server_page (the server's page in a browser) "
                   "will FAIL. Install it: bash scripts/install-deps.sh (Debian's chromium-headless-shell)")
  endif()
  add_test(NAME e2e_server_page
    COMMAND ${_python} ${CMAKE_CURRENT_LIST_DIR}/browser_page_test.py
            --server $<TARGET_FILE:heartmula-server> --browser "${_browser}"
            --test-data ${HEARTMULA_TEST_DATA} --test-cache ${HEARTMULA_TEST_CACHE}
            --screenshot ${CMAKE_BINARY_DIR}/artifacts/server-page.png --timeout 240)
  set_tests_properties(e2e_server_page PROPERTIES LABELS e2e FIXTURES_REQUIRED test_assets TIMEOUT 300)
endif()
