#include "gate.h"

#include <string.h>

#include "json.h"
#include "text.h"

lk_err lk_bot_gate_key(lk_req *r, lk_botkey *key)
{
    lk_err rc = lk_botkey_check(r->db, r->a, lk_req_header(r, "HTTP_AUTHORIZATION"), key);
    if (rc == LK_EUNAUTHORIZED)
        return lk_fail(r, rc, "A valid API key is required: Authorization: Bearer lk_...");
    if (rc != LK_OK)
        return lk_fail_db(r, rc);
    return LK_OK;
}

lk_err lk_bot_gate_writer(lk_req *r, const char *profile_name, const char *instance_id, const char *refusal,
                          lk_botkey *key, const lk_profile **profile)
{
    lk_err rc = lk_bot_gate_key(r, key);
    if (rc != LK_OK)
        return rc;
    if (!lk_botkey_allows_profile(key, profile_name))
        return lk_fail(r, LK_EFORBIDDEN, "This API key is not allowed to use this profile.");
    if (instance_id && !lk_botkey_allows_instance(key, instance_id))
        return lk_fail(r, LK_EFORBIDDEN, "This API key is not allowed to act for this instance_id.");
    if (refusal && key->read_only)
        return lk_fail(r, LK_EFORBIDDEN, "%s", refusal);
    if (!lk_valid_profile_name(profile_name, strlen(profile_name)))
        return lk_fail(r, LK_ENOPROFILE, "There is no such profile.");
    rc = lk_profile_load(r->db, r->a, profile_name, profile);
    if (rc == LK_ENOPROFILE)
        return lk_fail(r, rc, "There is no such profile.");
    if (rc != LK_OK)
        return lk_fail_db(r, rc);
    return LK_OK;
}

lk_err lk_bot_gate(lk_req *r, const char *profile_name, const char *instance_id, lk_botkey *key,
                   const lk_profile **profile)
{
    return lk_bot_gate_writer(r, profile_name, instance_id, NULL, key, profile);
}

lk_err lk_bot_gate_header(lk_req *r, const char *profile_name, const char *refusal, lk_botkey *key,
                          const lk_profile **profile, const char **instance_id)
{
    const char *iid = lk_req_header(r, "HTTP_X_INSTANCE_ID");
    bool iid_ok = iid && lk_valid_instance_id(iid, strlen(iid));
    *instance_id = NULL;
    lk_err rc = lk_bot_gate_writer(r, profile_name, iid_ok ? iid : NULL, refusal, key, profile);
    if (rc != LK_OK)
        return rc;
    if (iid && !iid_ok)
        return lk_fail_field(r, "header", "x-instance-id",
                             "Value error, X-Instance-Id must be 1 to 255 bytes of printable UTF-8", "value_error");
    *instance_id = iid;
    return LK_OK;
}

lk_err lk_bot_gate_json_writer(lk_req *r, const char *profile_name, const char *refusal, lk_botkey *key,
                               const lk_profile **profile, json_object **body)
{
    lk_json_body jb;
    lk_req_json_early(r, &jb);
    *body = jb.json;
    lk_err rc = lk_bot_gate_writer(r, profile_name, lk_json_str(jb.json, "instance_id"), refusal, key, profile);
    if (rc == LK_OK && lk_req_json_failed(r, &jb))
        rc = r->err;
    if (rc == LK_OK && !json_object_is_type(jb.json, json_type_object))
        rc = lk_fail_not_object(r);
    return rc;
}

lk_err lk_bot_gate_json(lk_req *r, const char *profile_name, lk_botkey *key, const lk_profile **profile,
                        json_object **body)
{
    return lk_bot_gate_json_writer(r, profile_name, NULL, key, profile, body);
}
