/* The bot-route gate (SPEC §2): the one prologue of every route a bot
 * calls with its bot key, checks in SPEC order. Endpoint layer: it answers
 * through lk_fail. */
#ifndef LK_GATE_H
#define LK_GATE_H

#include <json-c/json.h>

#include "botkey.h"
#include "http.h"
#include "profile.h"

/* The first check of every bot route (SPEC §2): a valid bot key in the
 * Authorization header (401). Fails through lk_fail. */
lk_err lk_bot_gate_key(lk_req *r, lk_botkey *key);

/* SPEC §2's check order for bot routes, after the method: the key (401),
 * the key's profiles (403, also for profiles that do not exist) and its
 * instance prefix when instance_id is known (403), then the profile (404).
 * Fails through lk_fail. */
lk_err lk_bot_gate(lk_req *r, const char *profile_name, const char *instance_id, lk_botkey *key,
                   const lk_profile **profile);

/* lk_bot_gate for a use a read-only key may not make (SPEC §10): with
 * refusal not NULL, a read-only key is refused (403, refusal as the
 * detail) after its profiles and instance prefix, before the profile
 * (404). refusal NULL: lk_bot_gate. Fails through lk_fail. */
lk_err lk_bot_gate_writer(lk_req *r, const char *profile_name, const char *instance_id, const char *refusal,
                          lk_botkey *key, const lk_profile **profile);

/* lk_bot_gate_writer for the routes that name the instance in the
 * X-Instance-Id header (the proxy, SPEC §6; MCP, SPEC §10): a valid header
 * meets the key's prefix (403); one present but not 1 to 255 bytes of
 * printable UTF-8 fails 422 after the gate. *instance_id gets the header,
 * NULL when it is absent (the caller says whether it is required). Fails
 * through lk_fail. */
lk_err lk_bot_gate_header(lk_req *r, const char *profile_name, const char *refusal, lk_botkey *key,
                          const lk_profile **profile, const char **instance_id);

/* lk_bot_gate for a route with a JSON body: the body is read first so that
 * its instance_id meets the key's prefix (403) before the profile (404);
 * the body's own failures (413, 400, and 422 when it is not a JSON object)
 * come after those. *body gets the parsed object. Fails through lk_fail. */
lk_err lk_bot_gate_json(lk_req *r, const char *profile_name, lk_botkey *key, const lk_profile **profile,
                        json_object **body);

/* lk_bot_gate_json with lk_bot_gate_writer's read-only refusal. */
lk_err lk_bot_gate_json_writer(lk_req *r, const char *profile_name, const char *refusal, lk_botkey *key,
                               const lk_profile **profile, json_object **body);

#endif
