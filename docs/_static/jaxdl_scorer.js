/* Search ranking (html_search_scorer in conf.py): Sphinx's weights, except that a section
   whose title holds the words searched for ranks above an API entry that merely shares a
   word with them. A learner who types "layer norm" wants the chapter's section on it first;
   the reference page of jaxdl.nn.layer_norm comes next. */
var Scorer = {
  score: (result) => {
    const [, , , , score, , kind] = result;
    return kind === "title" ? score + 20 : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: {
    0: 15,
    1: 5,
    2: -5,
  },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
