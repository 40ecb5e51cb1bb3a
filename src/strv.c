#include "strv.h"

#include "json.h"

lk_strv lk_strv_of(lk_arena *a, const char *const *items)
{
    lk_strv s = {NULL, 0};
    size_t n = 0;
    while (items[n])
        n++;
    s.v = lk_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        s.v[s.n++] = lk_strdup(a, items[i]);
    return s;
}

lk_strv lk_strv_from_json(lk_arena *a, json_object *arr)
{
    lk_strv s = {NULL, 0};
    if (!arr || !json_object_is_type(arr, json_type_array))
        return s;
    size_t n = json_object_array_length(arr);
    s.v = lk_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        if (json_object_is_type(it, json_type_string))
            s.v[s.n++] = lk_strdup(a, json_object_get_string(it));
    }
    return s;
}

json_object *lk_strv_to_json(lk_arena *a, const lk_strv *s)
{
    json_object *arr = lk_json_array(a);
    for (size_t i = 0; i < s->n; i++)
        json_object_array_add(arr, json_object_new_string(s->v[i]));
    return arr;
}
