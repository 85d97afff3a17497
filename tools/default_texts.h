// The lyrics and tags heartmula-gen uses when none are given (an original sample lyric).
#pragma once

namespace heartmula::tools {

inline constexpr const char* kDefaultTags = "piano,happy";

inline constexpr const char* kDefaultLyrics = R"([Intro]

[Verse]
Morning paints the window gold
Kettle sings the way it always told
Footsteps drumming on the stair
There's a melody hanging in the air

[Chorus]
Sing it loud, sing it slow
Let the little rivers flow
Every note we never planned
Finds its way into my hand

[Verse]
Noon is humming through the town
Bicycles and bells go round and round
Paper boats on puddle seas
Carry wishes on the evening breeze

[Chorus]
Sing it loud, sing it slow
Let the little rivers flow
Every note we never planned
Finds its way into my hand

[Outro]
Into my hand
Into my hand
)";

}  // namespace heartmula::tools
