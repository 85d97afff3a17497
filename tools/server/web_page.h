// The page heartmula-server serves at / : one self-contained HTML document (no CDN, no build step).
#pragma once

namespace heartmula::server {

extern const char* const kWebPage;

}  // namespace heartmula::server
