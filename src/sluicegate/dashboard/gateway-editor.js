// One gateway's editor: its name and every setting (a form built from the API's schema), saved
// with one PATCH of what changed; the API's 400 appears next to the field it names.

import { clear, h, toast } from "./dom.js";
import { clearFieldErrors, errorSlot, FieldError, settingsForm, showFieldError } from "./settings-form.js";

// `done.saved(gateway)` after a save, `done.closed()` on cancel, `done.deleted()` after deleting.
export function gatewayEditor(api, schemas, gateway, done) {
  const form = settingsForm(schemas, gateway.settings);
  const name = h("input", { name: "name", value: gateway.name, required: true, maxlength: 200 });
  const problem = h("p", { class: "error small", role: "alert", hidden: true });
  const saveButton = h("button", { type: "submit" }, "Save");

  const fail = (field, message) => {
    if (field && showFieldError(element, field, message)) return;
    problem.hidden = false;
    clear(problem, message);
  };

  const save = async (event) => {
    event.preventDefault();
    clearFieldErrors(element);
    problem.hidden = true;
    const body = {};
    try {
      const settings = form.changes();
      if (Object.keys(settings).length) body.settings = settings;
    } catch (error) {
      if (error instanceof FieldError) return fail(error.field, error.message);
      throw error;
    }
    if (name.value.trim() !== gateway.name) body.name = name.value.trim();
    if (!Object.keys(body).length) return toast("Nothing changed");
    saveButton.disabled = true;
    try {
      const saved = await api.request("PATCH", api.gatewayPath(gateway.slug), { body });
      toast(`Gateway ${gateway.slug} saved`, "success");
      done.saved(saved);
    } catch (error) {
      fail(error.field, error.message);
    } finally {
      saveButton.disabled = false;
    }
  };

  const remove = async () => {
    if (!confirm(`Delete gateway ${gateway.slug}? Its requests will answer 404.`)) return;
    try {
      await api.request("DELETE", api.gatewayPath(gateway.slug));
      toast(`Gateway ${gateway.slug} deleted`, "success");
      done.deleted();
    } catch (error) {
      toast(error.message, "error");
    }
  };

  const element = h(
    "form",
    { class: "card editor", "aria-label": `Edit ${gateway.slug}`, novalidate: true, onsubmit: save },
    h("h2", {}, "Settings of ", h("span", { class: "mono" }, gateway.slug)),
    h("div", { class: "setting", dataset: { field: "name" } }, h("label", { class: "field" }, h("span", {}, "Name"), name), errorSlot()),
    h("div", { class: "groups" }, form.element),
    problem,
    h(
      "div",
      { class: "buttons sticky" },
      saveButton,
      h("button", { type: "button", class: "secondary", onclick: () => done.closed() }, "Close"),
      h("button", { type: "button", class: "danger", onclick: remove }, "Delete gateway"),
    ),
  );
  return element;
}
