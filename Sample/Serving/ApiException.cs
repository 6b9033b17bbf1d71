namespace Qwen3Gen.Sample.Serving;

/// <summary>
/// A request the server refuses, with the HTTP status and OpenAI's error object fields:
/// <c>{"error": {"message", "type", "param", "code"}}</c>.
/// </summary>
public sealed class ApiException(int status, string message, string? param = null, string type = "invalid_request_error", string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string Type { get; } = type;
    public string? Code { get; } = code;

    /// <summary>400 naming the field.</summary>
    public static ApiException Invalid(string param, string message) => new(400, message, param);
}
