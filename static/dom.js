// Small DOM helpers shared by the room's modules.

/** An element with attributes (`on…` ones become listeners) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function button(label, onclick, cls = "secondary small", extra = {}) {
  return el("button", { type: "button", class: cls, onclick, ...extra }, label);
}

/** This page's CSRF token, for scripts' state-changing requests. */
export const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
