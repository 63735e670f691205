"""patching/: touching a model's insides to find where it decides which theorem to apply.

Map of the room (each module's docstring teaches its method):

* `sites`       - canonical site names (`blocks.{l}.mlp_out`...) from one table per architecture;
* `hooks`       - `intervene`, the one hook primitive: capture or edit sites, always cleaned up;
* `engines`     - plain hooks (reference), nnsight 0.8 and the TransformerLens 4.3 bridge;
* `pairs`       - minimal pairs as token sequences, the right/wrong next token, named spans;
* `conditions`  - the request and the (pair, site, positions) conditions it expands to, the memory budget;
* `scoring`     - unpatched endpoints, the metric of patched runs, tidy result rows;
* `metrics`     - logit difference, probability, KL, and the 0 = corrupt / 1 = clean scale;
* `activation`  - the generic batched patching loop (denoise / noise, positions or spans);
* `attribution` - the gradient approximation of every patch at once;
* `atp_star`    - AtP*: the QK fix (exact attention patterns) and GradDrop on top of attribution patching;
* `tracing`     - ROME-style noise-corruption causal tracing;
* `cross`       - cross-checkpoint patching and MLP weight transplant;
* `weights`     - relative weight change per block and layer from a base (E6);
* `spectral`    - the SVD view of an update: rescaling vs new directions, effective rank, overlap, top-k restore;
* `ablation`    - zero, mean and resample ablation of any site beside patching; faithfulness curves;
* `mib`         - MIB's circuit metrics: faithfulness at MIB's sizes for every ranking, CPR, CMD, importance file;
* `das_items`   - counterfactual examples of the theorem choice (swap and cross-template, labels, splits);
* `das`         - distributed alignment search: the interchange, fitting a subspace, IIA, baselines, illusion;
* `das_run`     - `tsft patch das`: every site and position, the tidy table and the first-site table;
* `deltas`      - delta inference (TAIA): a fine-tune's attention-only or MLP-only updates on its base;
* `groups`      - position-group patching of vision-language models (where a figure's given is read);
* `results`     - tidy tables and their summary; `run` - experiments from folders (`tsft patch`);
* `requests`    - what a sweep or a trace asks for, whole (SweepRequest, TraceRequest; torch-free).

Engines beyond plain hooks are imported only when made, so this room runs where only torch and
transformers are installed.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "PatchRequest": "conditions",
    "SweepRequest": "requests",
    "TraceRequest": "requests",
    "run_sweep": "run",
    "run_trace": "run",
    "run_cross": "run",
    "run_transplant": "run",
    "intervene": "hooks",
    "make_engine": "engines",
    "run_das": "das_run",
    "run_deltas": "deltas",
})
