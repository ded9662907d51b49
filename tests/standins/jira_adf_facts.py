"""The Atlassian Document Format facts the Jira stand-in checks rich-text
fields (an issue's description, a comment's body) against, carried over
from the ADF structure reference
(https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/):
the document root, and the nodes rectify writes (paragraph, text) with the
members each takes. The REST operations and their schemas are in
``jira_openapi_subset.json``.
"""

ADF_DOC = {"type", "version", "content"}
ADF_PARAGRAPH = {"type", "content", "attrs"}
ADF_TEXT = {"type", "text", "marks"}
ADF_BLOCK_TYPES = {"paragraph", "heading", "bulletList", "orderedList", "codeBlock",
                   "blockquote", "rule", "panel", "table", "mediaGroup", "mediaSingle",
                   "expand", "decisionList", "taskList", "multiBodiedExtension"}
