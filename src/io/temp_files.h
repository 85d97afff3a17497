// The temporary files being written right now ("<dir>/.<name>.partXXXXXX" of AudioOutputFile and
// AtomicFileWriter), so that an abort from a signal handler (heartmula-gen's second Ctrl-C) can
// remove them before it exits: no half-written file is left behind, also when the process does
// not unwind. Registering and unregistering take a lock-free slot; the unlinking is
// async-signal-safe (it reads the slots and calls unlink(2) only).
#pragma once

#include <string>

namespace heartmula::io {

// Remembers `path` until unregister_temp_file(path). More than the registry holds at once (64)
// are not remembered (they are still removed by their owner on a normal exit or an exception).
void register_temp_file(const std::string& path);
void unregister_temp_file(const std::string& path);

// Unlinks every registered path. Async-signal-safe: for a signal handler about to _Exit.
void unlink_temp_files_for_abort() noexcept;

}  // namespace heartmula::io
