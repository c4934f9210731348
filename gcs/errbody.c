/* Error bodies come in two shapes: the JSON API's {"error":{...}} and the XML API's
 * <Error><Code/><Message/><Details/></Error>. Both are reduced to a reason code and a
 * message for the log and for messages shown to the user. Elements are matched by local name
 * because GCS's XML documents use more than one namespace. */
#include "gcs/errbody.h"

#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
	/* Keep log lines on one line. */
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static void parse_json(const char *body, size_t len, struct gcs_errinfo *out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j, *err, *v, *errs;

	if (!tok)
		return;
	j = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (!j)
		return;
	if (json_object_object_get_ex(j, "error", &err)) {
		if (json_object_is_type(err, json_type_object)) {
			if (json_object_object_get_ex(err, "message", &v))
				copy_str(out->message, sizeof(out->message),
					 json_object_get_string(v));
			if (json_object_object_get_ex(err, "errors", &errs) &&
			    json_object_is_type(errs, json_type_array) &&
			    json_object_array_length(errs) > 0 &&
			    json_object_object_get_ex(json_object_array_get_idx(errs, 0), "reason",
						      &v))
				copy_str(out->reason, sizeof(out->reason),
					 json_object_get_string(v));
		} else if (json_object_is_type(err, json_type_string)) {
			/* OAuth endpoints answer {"error":"invalid_grant","error_description":..}.
			 */
			copy_str(out->reason, sizeof(out->reason), json_object_get_string(err));
			if (json_object_object_get_ex(j, "error_description", &v))
				copy_str(out->message, sizeof(out->message),
					 json_object_get_string(v));
		}
	}
	json_object_put(j);
}

static void parse_xml(const char *body, size_t len, struct gcs_errinfo *out)
{
	xmlDocPtr doc = xmlReadMemory(body, (int)len, "error.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root;
	char msg[512] = "", details[512] = "";

	if (!doc)
		return;
	root = xmlDocGetRootElement(doc);
	for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		xmlChar *text = xmlNodeGetContent(n);
		const char *name = (const char *)n->name;

		if (strcmp(name, "Code") == 0)
			copy_str(out->reason, sizeof(out->reason), (const char *)text);
		else if (strcmp(name, "Message") == 0)
			copy_str(msg, sizeof(msg), (const char *)text);
		else if (strcmp(name, "Details") == 0)
			copy_str(details, sizeof(details), (const char *)text);
		xmlFree(text);
	}
	xmlFreeDoc(doc);
	if (*msg && *details)
		snprintf(out->message, sizeof(out->message), "%.250s (%.250s)", msg, details);
	else
		copy_str(out->message, sizeof(out->message), *msg ? msg : details);
}

void gcs_errbody_parse(const char *body, size_t len, struct gcs_errinfo *out)
{
	size_t i = 0;

	out->reason[0] = '\0';
	out->message[0] = '\0';
	if (!body)
		return;
	while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
		i++;
	if (i < len && body[i] == '{')
		parse_json(body + i, len - i, out);
	else if (i < len && body[i] == '<')
		parse_xml(body + i, len - i, out);
}
