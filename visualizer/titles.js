// Department titles, as GET /api/machine lists them (`departments: [{ id, title }]`, from
// src/departments.ts). A state without a title (`ended`, or every state before the machine has loaded,
// or from a server that does not send them) is shown by its id, capitalised.

const titles = new Map();

/** Shorter labels where space is tight (the department pill in the call lists, the top-bar counts). */
const SHORT = { human: 'Person' };

export function setDepartments(departments) {
  titles.clear();
  if (!Array.isArray(departments)) return;
  for (const d of departments) {
    if (typeof d?.id === 'string' && typeof d.title === 'string' && d.title) titles.set(d.id, d.title);
  }
}

export function title(id) {
  return titles.get(id) ?? (id ? id.charAt(0).toUpperCase() + id.slice(1) : '?');
}

export function shortTitle(id) {
  return SHORT[id] ?? title(id);
}
