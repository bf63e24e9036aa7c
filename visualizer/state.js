// The page's shared state (the calls from the feed, which one is shown, the past-calls tab), and the
// redraw hooks app.js fills in, so a module can ask for a redraw without importing the renderers.

export const page = {
  /** @type {Map<string, any>} callId → CallView, from the `/feed` WebSocket. */
  calls: new Map(),
  selectedId: null,
  hidePhoneNumbers: false,
  /** A supervisor command of ours is on its way (its buttons are disabled meanwhile). */
  pendingCommand: false,
  /** Which list the calls card shows: 'live' (the feed) or 'past' (the call records). */
  tab: 'live',
  /** Past calls from GET /api/records (summaries; null while an error is shown), and how many loads run. */
  pastList: [],
  pastLoading: 0,
  /** The past call opened from the records (a full CallView), shown instead of a live one. */
  pastView: null,
};

/** The call shown in the details and the diagram: a past call opened from the records, or a live/recent one. */
export function selectedView() {
  return page.pastView ?? (page.selectedId ? (page.calls.get(page.selectedId) ?? null) : null);
}

const painters = { all() {}, details() {}, diagram() {} };

/** app.js: how to redraw everything, the shown call's details, and the diagram's highlights. */
export function setPainters(p) {
  Object.assign(painters, p);
}

export const paintAll = () => painters.all();
export const paintDetails = () => painters.details();
export const paintDiagram = () => painters.diagram();
