"""Facts about Jira Cloud's REST API v3 that the Jira stand-in checks
requests against, carried over from Atlassian's published OpenAPI document
for the Jira Cloud platform REST API
(https://dac-static.atlassian.com/cloud/jira/platform/swagger-v3.v3.json,
``paths`` and ``components.schemas``) and from the Atlassian Document
Format structure reference
(https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
Only the operations and schema members rectify uses are carried.
"""

# paths: (method, path template) -> operationId, the query parameters the
# operation declares, and its success status.
OPERATIONS = {
    ("POST", "/rest/api/3/issue"): ("createIssue", {"updateHistory"}, 201),
    ("GET", "/rest/api/3/issue/{issueIdOrKey}"): (
        "getIssue",
        {"fields", "fieldsByKeys", "expand", "properties", "updateHistory", "failFast"},
        200,
    ),
    ("POST", "/rest/api/3/issue/{issueIdOrKey}/comment"): ("addComment", {"expand"}, 201),
    ("GET", "/rest/api/3/issue/{issueIdOrKey}/transitions"): (
        "getTransitions",
        {"expand", "transitionId", "skipRemoteOnlyCondition",
         "includeUnavailableTransitions", "sortByOpsBarAndStatus"},
        200,
    ),
    ("POST", "/rest/api/3/issue/{issueIdOrKey}/transitions"): ("doTransition", set(), 204),
    ("POST", "/rest/api/3/search/jql"): ("searchAndReconsileIssuesUsingJqlPost", set(), 200),
}

# components.schemas.IssueUpdateDetails: the request body of createIssue
# and doTransition.
ISSUE_UPDATE_DETAILS = {"fields", "historyMetadata", "properties", "transition", "update"}
# components.schemas.IssueTransition (as sent in doTransition: the id).
ISSUE_TRANSITION = {"expand", "fields", "hasScreen", "id", "isAvailable", "isConditional",
                    "isGlobal", "isInitial", "looped", "name", "to"}
# components.schemas.Comment: the request body of addComment; the members
# marked readOnly in the schema cannot be sent.
COMMENT = {"author", "body", "created", "id", "jsdAuthorCanSeeRequest", "jsdPublic",
           "properties", "renderedBody", "self", "updateAuthor", "updated", "visibility"}
COMMENT_READ_ONLY = {"author", "created", "id", "jsdAuthorCanSeeRequest", "jsdPublic",
                     "renderedBody", "self", "updateAuthor", "updated"}
# components.schemas.SearchAndReconcileRequestBean: the body of POST
# /rest/api/3/search/jql; maxResults is int32.
SEARCH_REQUEST = {"expand", "fields", "fieldsByKeys", "jql", "maxResults", "nextPageToken",
                  "properties", "reconcileIssues"}
INT32_MAX = 2**31 - 1

# Atlassian Document Format: the document root, and the nodes rectify
# writes (paragraph, text) with the members each takes.
ADF_DOC = {"type", "version", "content"}
ADF_PARAGRAPH = {"type", "content", "attrs"}
ADF_TEXT = {"type", "text", "marks"}
ADF_BLOCK_TYPES = {"paragraph", "heading", "bulletList", "orderedList", "codeBlock",
                   "blockquote", "rule", "panel", "table", "mediaGroup", "mediaSingle",
                   "expand", "decisionList", "taskList", "multiBodiedExtension"}
