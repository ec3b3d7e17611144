// A world on the real MTG-Jamendo catalog (`muchator world --catalog jamendo --input PATH`): the
// songs, artists, albums, durations and genre/mood/theme tags are the real ones; popularity,
// quality, energy/valence, users, behaviour, comments, playlists and queries are simulated over
// them exactly as in the synthetic world. Relevance comes from the real tags: a song is relevant
// to "party" when Jamendo tagged it party. docs/world.md ("A world on a real catalog") says which
// part is which.
#pragma once

#include "world/concepts.h"
#include "world/model.h"

namespace muchator::world {

// Concepts whose members are real Jamendo tags (Concept::tags), with hand-written surface forms in
// the four disjoint groups of concepts.h; one language ("und": Jamendo records none) and no eras.
const ConceptSet& JamendoConcepts();

// Fills w.artists and w.songs from the Jamendo copy at w.config.catalog_input: the tracks with at
// least one genre concept and one mood or theme concept, at most w.config.songs of them (a seeded
// sample when there are more), and sets w.config.songs / w.config.artists to what was taken.
// Throws Error naming the file when the input is missing, or when fewer than 50 tracks qualify.
void BuildJamendoCatalog(WorldModel& w);

}  // namespace muchator::world
