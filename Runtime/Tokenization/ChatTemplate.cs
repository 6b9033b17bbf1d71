using System.Text;
using System.Text.Json.Nodes;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// The Qwen3 chat template (tokenizer_config.json's Jinja <c>chat_template</c>), written out in C#
/// because .NET has no Jinja engine. Each step below names the template lines it mirrors;
/// chat_golden.jsonl (rendered by transformers) is the oracle.
/// </summary>
public static class ChatTemplate
{
    const string ToolsPreamble =
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    const string ToolsPostamble =
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

    /// <summary>
    /// Renders a conversation. <paramref name="enableThinking"/>: null = not passed (the model
    /// decides), false = an empty &lt;think&gt;&lt;/think&gt; block follows the generation prompt,
    /// true = same as null. <paramref name="tools"/> are function definitions as JSON objects.
    /// </summary>
    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
                                bool? enableThinking = null, IReadOnlyList<JsonNode>? tools = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new ArgumentException("The conversation has no messages.", nameof(messages));
        for (int i = 0; i < messages.Count; i++)
            if (messages[i] is null || messages[i].Role is null)
                throw new ArgumentException($"Message {i} is null or has no role.", nameof(messages));
        var sb = new StringBuilder();

        // {%- if tools %} system block with the tool signatures {%- else %} the first system message
        if (tools is { Count: > 0 })
        {
            sb.Append("<|im_start|>system\n");
            if (messages[0].Role == "system") sb.Append(Text(messages[0])).Append("\n\n");
            sb.Append(ToolsPreamble);
            foreach (var tool in tools) sb.Append('\n').Append(PythonJson.Dumps(tool));
            sb.Append(ToolsPostamble);
        }
        else if (messages[0].Role == "system")
            sb.Append("<|im_start|>system\n").Append(Text(messages[0])).Append("<|im_end|>\n");

        // ns.last_query_index: the last user turn that is not a wrapped tool response.
        int lastQuery = messages.Count - 1;
        for (int i = messages.Count - 1; i >= 0; i--)
        {
            var m = messages[i];
            string c = Text(m);
            if (m.Role == "user" && !(c.StartsWith("<tool_response>", StringComparison.Ordinal) && c.EndsWith("</tool_response>", StringComparison.Ordinal)))
            {
                lastQuery = i;
                break;
            }
        }

        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            bool last = i == messages.Count - 1;
            if (m.Role == "user" || (m.Role == "system" && i > 0))
            {
                sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(Text(m)).Append("<|im_end|>\n");
            }
            else if (m.Role == "assistant")
            {
                string content = Text(m), reasoning = "";
                if (m.ReasoningContent is not null) reasoning = m.ReasoningContent;
                else if (content.Contains("</think>", StringComparison.Ordinal))
                {
                    // content.split('</think>')[-1].lstrip('\n'); split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
                    string before = content[..content.IndexOf("</think>", StringComparison.Ordinal)];
                    string after = content[(content.LastIndexOf("</think>", StringComparison.Ordinal) + "</think>".Length)..];
                    before = before.TrimEnd('\n');
                    int think = before.LastIndexOf("<think>", StringComparison.Ordinal);
                    reasoning = (think < 0 ? before : before[(think + "<think>".Length)..]).TrimStart('\n');
                    content = after.TrimStart('\n');
                }

                if (i > lastQuery && (last || reasoning.Length > 0))
                    sb.Append("<|im_start|>").Append(m.Role).Append("\n<think>\n").Append(reasoning.Trim('\n'))
                      .Append("\n</think>\n\n").Append(content.TrimStart('\n'));
                else
                    sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(content);

                if (m.ToolCalls is { Count: > 0 } calls)
                    for (int t = 0; t < calls.Count; t++)
                    {
                        if ((t == 0 && content.Length > 0) || t > 0) sb.Append('\n');
                        var call = calls[t] ?? throw new ArgumentException($"Message {i}: tool call {t} is null.", nameof(messages));
                        sb.Append("<tool_call>\n{\"name\": \"").Append(call.Name).Append("\", \"arguments\": ");
                        if (call.Arguments is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String)
                            sb.Append(v.GetValue<string>());                       // {%- if tool_call.arguments is string %}
                        else
                            sb.Append(PythonJson.Dumps(call.Arguments));           // tool_call.arguments | tojson
                        sb.Append("}\n</tool_call>");
                    }
                sb.Append("<|im_end|>\n");
            }
            else if (m.Role == "tool")
            {
                if (i == 0 || messages[i - 1].Role != "tool") sb.Append("<|im_start|>user");
                sb.Append("\n<tool_response>\n").Append(Text(m)).Append("\n</tool_response>");
                if (last || messages[i + 1].Role != "tool") sb.Append("<|im_end|>\n");
            }
        }

        if (addGenerationPrompt)
        {
            sb.Append("<|im_start|>assistant\n");
            if (enableThinking == false) sb.Append("<think>\n\n</think>\n\n");
        }
        return sb.ToString();
    }

    /// <summary>Renders and tokenizes a conversation (the ids transformers' apply_chat_template(tokenize=True) returns).</summary>
    public static int[] Encode(Qwen3Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
                               bool? enableThinking = null, IReadOnlyList<JsonNode>? tools = null)
        => tokenizer.Encode(Render(messages, addGenerationPrompt, enableThinking, tools));

    static string Text(ChatMessage m) => m.Content ?? "";
}
