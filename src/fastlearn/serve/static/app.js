// The page for one exported model: reads GET info, builds the form for its input kind,
// sends POST predict and draws the top classes as bars. Model text (class names, column
// names) is only ever set as textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const JSON_HEADERS = { "Content-Type": "application/json" };

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  function field(labelText, input) {
    return el("div", { class: "field" }, el("label", { for: input.id, text: labelText }), input);
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // Milliseconds as a person reads them: "0.42 ms", "2.6 ms", "12 ms", "1.3 s".
  function duration(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "an unknown time";
    if (ms < 1) return `${ms.toFixed(2)} ms`;
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(1)} s`;
  }

  function showResult(data) {
    $("error").hidden = true;
    $("label").textContent = show(data.label);
    const predicted = new Set((Array.isArray(data.label) ? data.label : [data.label]).map(show));
    for (const chip of $("class-list").children) {
      chip.classList.toggle("hit", predicted.has(chip.textContent));
    }
    const top = $("top");
    top.replaceChildren();
    for (const { label, probability } of data.top || []) {
      const fill = el("div", { class: "fill" });
      fill.style.width = `${(100 * probability).toFixed(1)}%`;
      top.append(el("li", {},
        el("span", { class: "name", text: show(label), title: show(label) }),
        el("div", { class: "bar" }, fill),
        el("span", { class: "pct", text: `${(100 * probability).toFixed(1)}%` })));
    }
    drawBoxes(data.boxes);
    $("value").hidden = data.value === undefined;
    $("value").textContent = data.value === undefined ? "" : JSON.stringify(data.value);
    $("timing").textContent = `predicted in ${duration(data.time_ms)}`;
    $("result").hidden = false;
  }

  // A detector's boxes (pixels of the uploaded image) drawn over it on a canvas, each class
  // in its colour, labelled with its score. Labels are drawn as canvas text, never HTML.
  // Small images are drawn enlarged (up to 4x, to about 480 px wide) so labels stay legible;
  // the canvas's pixels are the image's pixels times `scale` (data-scale).
  const BOX_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0"];
  function drawBoxes(boxes) {
    const old = $("boxes");
    if (old) old.remove();
    const img = $("preview");
    if (!Array.isArray(boxes) || !img || !img.naturalWidth) return;
    const [w, h] = [img.naturalWidth, img.naturalHeight];
    const scale = Math.max(1, Math.min(4, Math.floor(480 / Math.max(w, h))));
    const canvas = el("canvas", { id: "boxes", width: w * scale, height: h * scale });
    canvas.dataset.scale = String(scale);
    canvas.style.maxWidth = "100%";
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, w * scale, h * scale);
    const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 200));
    const size = Math.max(12, 6 * line);
    ctx.lineWidth = line;
    ctx.font = `${size}px sans-serif`;
    ctx.textBaseline = "top";
    const classes = [...new Set(boxes.map((b) => show(b.label)))];
    // Lowest score first, so the best boxes and their labels end up on top.
    for (const { box, label, score } of [...boxes].reverse()) {
      const [x0, y0, x1, y1] = box.map((v) => v * scale);
      const colour = BOX_COLOURS[classes.indexOf(show(label)) % BOX_COLOURS.length];
      const text = `${show(label)} ${score.toFixed(2)}`;
      ctx.strokeStyle = colour;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      // The label sits above the box when there is room, inside it otherwise, and never
      // runs off the canvas's right edge.
      const [tw, th] = [ctx.measureText(text).width + 2 * line, size + line];
      const tx = Math.max(0, Math.min(x0, canvas.width - tw));
      const ty = y0 - th >= 0 ? y0 - th : y0;
      ctx.fillStyle = colour;
      ctx.fillRect(tx, ty, tw, th);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, tx + line, ty + line / 2);
    }
    $("top").before(canvas);
  }

  async function send([body, headers]) {
    $("submit").disabled = true;
    try {
      const response = await fetch("predict", { method: "POST", body, headers });
      const data = await response.json().catch(() => ({}));
      if (response.ok) showResult(data);
      else showError(data.error || `The server answered ${response.status}.`);
    } catch (err) {
      showError(`Could not reach the server: ${err}`);
    } finally {
      $("submit").disabled = false;
    }
  }

  // Each builder adds its inputs to `box` and returns a function giving [body, headers].
  const builders = {
    image(spec, box, submit) {
      const input = el("input", { type: "file", id: "file", name: "file", accept: "image/*" });
      const hint = el("span", { id: "drop-hint", text: "Drop an image here, or click to choose one" });
      const preview = el("img", { id: "preview", alt: "the image to classify" });
      preview.hidden = true;
      const drop = el("label", { class: "drop", id: "drop", for: "file" }, input, preview, hint);
      box.append(drop);
      let file = null;
      const choose = (chosen) => {
        if (!chosen) return;
        if (!chosen.type.startsWith("image/")) {
          showError(`Expected an image file. Received: ${chosen.name} (${chosen.type || "unknown type"}).`);
          return;
        }
        file = chosen;
        if (preview.src) URL.revokeObjectURL(preview.src);
        preview.src = URL.createObjectURL(file);
        preview.hidden = false;
        hint.textContent = `${file.name} (${Math.ceil(file.size / 1024)} KiB) - drop another to replace it`;
        submit();
      };
      input.addEventListener("change", () => choose(input.files[0]));
      drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
      drop.addEventListener("dragleave", () => drop.classList.remove("over"));
      drop.addEventListener("drop", (e) => {
        e.preventDefault();
        drop.classList.remove("over");
        choose(e.dataTransfer.files[0]);
      });
      return () => {
        if (!file) throw new Error("Choose or drop an image first.");
        const form = new FormData();
        form.append("file", file, file.name);
        return [form, {}];
      };
    },

    text(spec, box) {
      const text = el("textarea", { id: "text", name: "text", placeholder: "Type or paste a text" });
      box.append(field("Text", text));
      return () => [JSON.stringify({ text: text.value }), JSON_HEADERS];
    },

    text_pair(spec, box) {
      const first = el("textarea", { id: "text", name: "text" });
      const second = el("textarea", { id: "text_pair", name: "text_pair" });
      box.append(field("First text", first), field("Second text", second));
      return () => [JSON.stringify({ text: first.value, text_pair: second.value }), JSON_HEADERS];
    },

    // Each field starts at its training mode or median (spec hint: "median 37"); with no
    // default it starts blank, a missing value, never at the alphabetically first choice.
    tabular(spec, box) {
      const inputs = (spec.fields || []).map((f, i) => {
        const id = `field-${i}`;
        const hasDefault = f.default !== undefined && f.default !== null;
        let input;
        if (f.choices && f.choices.length <= 200) {
          input = el("select", { id, name: f.name });
          if (!hasDefault) input.append(el("option", { value: "", text: "(missing)" }));
          for (const choice of f.choices) input.append(el("option", { value: String(choice), text: String(choice) }));
        } else if (f.choices) {
          input = el("input", { id, name: f.name, type: "text", list: `${id}-list` });
          box.append(el("datalist", { id: `${id}-list` },
            ...f.choices.map((c) => el("option", { value: String(c) }))));
        } else {
          input = el("input", { id, name: f.name, type: f.type === "number" ? "number" : "text", step: "any" });
        }
        if (f.hint && input.tagName !== "SELECT") input.placeholder = f.hint;
        if (hasDefault) input.value = String(f.default);
        box.append(field(f.hint ? `${f.name} (${f.hint})` : f.name, input));
        return [f, input];
      });
      return () => {
        const row = {};
        for (const [f, input] of inputs) {
          const raw = input.value.trim();
          // a choice goes back as the model's value (an int category stays an int)
          const choice = (f.choices || []).find((c) => String(c) === raw);
          row[f.name] = raw === "" ? null : f.type === "number" ? Number(raw)
            : choice !== undefined ? choice : raw;
        }
        return [JSON.stringify({ row }), JSON_HEADERS];
      };
    },

    collab(spec, box) {
      const user = el("input", { id: "user", name: "user", type: "text" });
      const item = el("input", { id: "item", name: "item", type: "text" });
      box.append(field(`User (${spec.user || "user"})`, user), field(`Item (${spec.item || "item"})`, item));
      const value = (s) => (/^-?\d+$/.test(s.trim()) ? Number(s) : s.trim());
      return () => [JSON.stringify({ user: value(user.value), item: value(item.value) }), JSON_HEADERS];
    },

    tensor(spec, box) {
      const shape = spec.shape ? ` of shape [${spec.shape.join(", ")}]` : "";
      const text = el("textarea", { id: "tensor", name: "tensor", placeholder: "[0.1, 0.2, ...]" });
      box.append(field(`A tensor${shape}, as JSON`, text));
      return () => {
        let tensor;
        try { tensor = JSON.parse(text.value); } catch (err) { throw new Error(`Not valid JSON: ${err.message}`); }
        return [JSON.stringify({ tensor }), JSON_HEADERS];
      };
    },
  };

  // The line under the title: the model file, its architecture, its validation metrics
  // (the losses and the epoch's time left out).
  const NOT_METRICS = ["epoch", "train_loss", "valid_loss", "time"];
  function describe(info) {
    const parts = [info.file, info.architecture].filter(Boolean);
    const metrics = Object.entries(info.metrics || {})
      .filter(([key, value]) => !NOT_METRICS.includes(key) && typeof value === "number")
      .map(([key, value]) => `${key} ${value.toPrecision(4)}`);
    if (metrics.length) parts.push(`validation ${metrics.join(", ")}`);
    return parts.join(" \u00b7 ");
  }

  // The classes the model can answer, before any prediction (the first MAX_CLASSES of them).
  const MAX_CLASSES = 30;
  function showClasses(info) {
    // a detector's vocabulary starts with "#na#", the padding of its box labels
    const vocab = (Array.isArray(info.vocab) ? info.vocab : [])
      .filter((name) => !(info.task === "detection" && name === "#na#"));
    if (!vocab.length || info.inputs.kind === "collab") return;
    const list = $("class-list");
    for (const name of vocab.slice(0, MAX_CLASSES)) {
      list.append(el("li", { text: show(name), title: show(name) }));
    }
    if (vocab.length > MAX_CLASSES) {
      list.append(el("li", { class: "more", text: `and ${vocab.length - MAX_CLASSES} more` }));
    }
    $("classes").hidden = false;
  }

  async function init() {
    let info;
    try {
      const response = await fetch("info");
      info = await response.json();
    } catch (err) {
      showError(`Could not load the model description: ${err}`);
      return;
    }
    const title = info.title || "fastlearn model";
    $("title").textContent = title;
    document.title = info.file ? `${title} - ${info.file}` : title;
    $("subtitle").textContent = describe(info);
    showClasses(info);
    const form = $("form");
    const submit = () => form.requestSubmit();
    const payload = (builders[info.inputs.kind] || builders.tensor)(info.inputs, $("fields"), submit);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      let request;
      try { request = payload(); } catch (err) { showError(err.message); return; }
      send(request);
    });
    $("submit").disabled = false;
    document.body.dataset.ready = "true";
  }

  init();
})();
