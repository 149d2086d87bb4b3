// Loads whose answers count only while no newer load of the same kind has started. A page loads
// again when a filter changes or its timer fires; an earlier call answering late (a slow gateway,
// a busy database) must not draw its answer, made for other filters, over the newer one.

// `run(work)` calls `work(current)`; `current()` stays true while no later `run` has started (nor
// `drop`), so the work draws only then. `busy` while any run is under way: a timer skips its
// refresh then, rather than pile calls on a slow API.
export function newestOnly() {
  let newest = 0;
  let running = 0;
  return {
    async run(work) {
      const mine = ++newest;
      running += 1;
      try {
        return await work(() => mine === newest);
      } finally {
        running -= 1;
      }
    },
    get busy() {
      return running > 0;
    },
    // Answers still to come count no more (the page was left).
    drop() {
      newest += 1;
    },
  };
}
