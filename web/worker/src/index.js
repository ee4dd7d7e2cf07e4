// reco edge worker: `reco serve`'s public endpoints (GET /, GET /recommend/{model}/{user_id},
// POST /recommend/{model}, GET /similar/{model}/{item_id}) answered at the edge by the
// reco-wasm package from web model files. See web/worker/README.md.
import { handle } from './api.js';
import { modelConfig, ModelStore } from './models.js';

/** The isolate's models: loaded by the first request, kept for the isolate's life. */
let store = null;

export default {
  /**
   * @param {Request} request
   * @param {Record<string, any>} env bindings: MODEL_SOURCE, MODEL_FILES, MODEL_BASE_URL, MODEL_BUCKET, MODEL_PREFIX
   * @returns {Promise<Response>}
   */
  async fetch(request, env) {
    store ??= new ModelStore(() => modelConfig(env));
    return handle(request, store);
  },
};
