// One gateway's editor: its name and every setting (a form built from the API's schema), saved
// with one PATCH of what changed; the API's 400 appears next to the field it names.

import { clear, h, toast, whileBusy } from "./dom.js";
import { canonical, clearFieldErrors, errorSlot, FieldError, settingsForm, showFieldError } from "./settings-form.js";

// `done.saved(gateway)` after a save, `done.closed()` on cancel, `done.deleted()` after deleting,
// `done.reload()` to draw it again from what the gateway holds now. The routes are not in this
// form: the Routes card beside it edits them (one source of truth). A save is made only if what it
// changes is as the form read it (If-Match): someone else's change to those settings meanwhile (in
// another tab, the CLI) is not overwritten, and the form says so.
export function gatewayEditor(api, schemas, gateway, done) {
  const form = settingsForm(schemas, gateway.settings, { omit: ["routes"] });
  const name = h("input", { name: "name", value: gateway.name, required: true, maxlength: 200 });
  const problem = h("p", { class: "error small", role: "alert", hidden: true });
  const saveButton = h("button", { type: "submit" }, "Save");
  const deleteButton = h("button", { type: "button", class: "danger", onclick: () => remove() }, "Delete gateway");

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
    // Changed meanwhile, but not in what this save changes (the Routes card saved a route): it
    // goes on over that version.
    const unaffected = (now) =>
      (!("name" in body) || now.name === gateway.name) &&
      Object.keys(body.settings || {}).every((key) => canonical(now.settings[key]) === canonical(form.read[key]));
    saveButton.disabled = true;
    try {
      const saved = await api.changeGateway(gateway.slug, "PATCH", api.gatewayPath(gateway.slug), { body, etag: gateway.etag, unaffected });
      toast(`Gateway ${gateway.slug} saved`, "success");
      done.saved(saved);
    } catch (error) {
      if (error.status === 412) changedMeanwhile(body);
      else fail(error.field, error.message);
    } finally {
      saveButton.disabled = false;
    }
  };

  const changedMeanwhile = (body) => {
    const what = [..."name" in body ? ["name"] : [], ...Object.keys(body.settings || {})].join(", ");
    problem.hidden = false;
    clear(
      problem,
      `Gateway ${gateway.slug} was changed meanwhile (in another tab, by someone else, or through the API), in what you were saving (${what}). Nothing was saved. `,
      h("button", { type: "button", class: "secondary small", dataset: { action: "reload" }, onclick: () => done.reload() }, "Reload the gateway"),
      " to see what it holds now, then make your change again.",
    );
    problem.scrollIntoView({ block: "center" });
  };

  const remove = async () => {
    if (!confirm(`Delete gateway ${gateway.slug}? Its requests will answer 404.`)) return;
    await whileBusy([deleteButton, saveButton], async () => {
      try {
        await api.request("DELETE", api.gatewayPath(gateway.slug));
        toast(`Gateway ${gateway.slug} deleted`, "success");
        done.deleted();
      } catch (error) {
        toast(error.message, "error");
      }
    });
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
      deleteButton,
    ),
  );
  return element;
}
