# Audio writer on a full device: stdout redirected to /dev/full (a real ENOSPC, not a simulated
# one) must end in an Error naming the destination.
heartmula_add_test(test_disk_full
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_disk_full.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_audio_util.cpp
  LIBS heartmula_io heartmula::sndfile
  LABEL unit)
