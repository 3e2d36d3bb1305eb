//! Templates: recipe env values, hook arguments and config files are tera templates rendered
//! against the node, the app instance, its secrets and the credentials of its addons.

use serde::Serialize;
use std::collections::BTreeMap;
use std::error::Error as _;
use std::fmt;

/// What a template sees.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext {
    pub node: NodeView,
    pub app: AppView,
    pub component: ComponentView,
    pub secrets: BTreeMap<String, String>,
    /// Credentials of provisioned addons, by addon kind (`postgres.host`, `ldap.bind_dn`, …).
    pub addons: BTreeMap<String, BTreeMap<String, String>>,
    /// The machine, for sizing (worker counts, buffer sizes).
    pub host: HostView,
}

/// The host's size as templates see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostView {
    /// Total memory in MiB.
    pub memory_mb: u64,
    /// Logical cores.
    pub cpus: u64,
}

impl HostView {
    /// This machine (sysinfo for memory; the cores this process may use).
    pub fn current() -> HostView {
        let memory_mb = sysinfo::System::new()
            .map(|mut s| {
                s.refresh_memory();
                s.total_memory() / (1024 * 1024)
            })
            .unwrap_or(2048);
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        HostView { memory_mb, cpus }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub name: String,
    pub domain: String,
    /// The directory's base DN (`dc=example,dc=coop`).
    pub base_dn: String,
    /// node.yaml's `operator.email`, or empty.
    pub operator_email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub id: String,
    pub recipe: String,
    pub version: String,
    pub host: String,
    pub fqdn: String,
    pub url: String,
    pub collective: Option<String>,
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub name: String,
}

impl TemplateContext {
    /// The same context, seen from one component.
    pub fn for_component(&self, name: &str) -> TemplateContext {
        let mut c = self.clone();
        c.component.name = name.to_string();
        c
    }
}

/// A template that failed: its name, the line when known, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub template: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.template, l, self.message),
            None => write!(f, "{}: {}", self.template, self.message),
        }
    }
}

impl std::error::Error for RenderError {}

/// Render one template. `name` is how errors will name it (e.g.
/// `recipes/hello/recipe.yaml components.web.env.GREETING`).
pub fn render(name: &str, source: &str, ctx: &TemplateContext) -> Result<String, RenderError> {
    render_with(name, source, ctx)
}

/// Render one template against any serializable context (the edge's configuration, for one).
pub fn render_with(
    name: &str,
    source: &str,
    ctx: &impl serde::Serialize,
) -> Result<String, RenderError> {
    let context = tera::Context::from_serialize(ctx).map_err(|e| RenderError {
        template: name.to_string(),
        line: None,
        message: chain(&e),
    })?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_filter("php", php_filter);
    tera.add_raw_template(name, source)
        .map_err(|e| describe(name, source, &e))?;
    tera.render(name, &context)
        .map_err(|e| describe(name, source, &e))
}

/// A single-quoted PHP string literal: `'` and `\\` escaped, nothing else interpreted.
pub fn php_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn php_filter(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(php_literal(&text)))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// Turn tera's error chain into one message with the template's line.
fn describe(name: &str, source: &str, e: &tera::Error) -> RenderError {
    let full = chain(e);
    // Parse errors carry ` --> LINE:COL` in their text.
    let parse_line = full.split("-->").nth(1).and_then(|rest| {
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse::<usize>().ok())
    });
    // Render errors name the missing variable: find the first line that uses it.
    let var_line = full
        .split("Variable `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .and_then(|var| source.lines().position(|l| l.contains(var)).map(|i| i + 1));
    let message = e
        .source()
        .map(chain)
        .unwrap_or_else(|| e.to_string())
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    RenderError {
        template: name.to_string(),
        line: parse_line.or(var_line),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TemplateContext {
        TemplateContext {
            node: NodeView {
                name: "n".into(),
                domain: "example.coop".into(),
                base_dn: "dc=example,dc=coop".into(),
                operator_email: String::new(),
            },
            app: AppView {
                id: "cloud".into(),
                recipe: "hello".into(),
                version: "1.0-1".into(),
                host: "cloud".into(),
                fqdn: "cloud.example.coop".into(),
                url: "https://cloud.example.coop".into(),
                collective: None,
                settings: BTreeMap::from([("title".into(), "Hi & <b>".into())]),
            },
            component: ComponentView { name: "web".into() },
            secrets: BTreeMap::from([("admin".into(), "s3cret".into())]),
            addons: BTreeMap::new(),
            host: HostView {
                memory_mb: 4096,
                cpus: 2,
            },
        }
    }

    #[test]
    fn php_filter_makes_a_single_quoted_literal() {
        let mut c = ctx();
        c.secrets.insert("odd".into(), r"it's a \ path".into());
        let out = render("t", "{{ secrets.odd | php }} {{ host.cpus }}", &c);
        assert_eq!(out.as_deref(), Ok(r"'it\'s a \\ path' 2"));
    }

    #[test]
    fn renders_node_app_and_secrets_without_escaping() {
        let out = render(
            "t",
            "{{ app.fqdn }} {{ secrets.admin }} {{ app.settings.title }}",
            &ctx(),
        );
        assert_eq!(out.as_deref(), Ok("cloud.example.coop s3cret Hi & <b>"));
    }

    #[test]
    fn missing_variable_names_template_and_line() {
        let err = render("recipe.yaml env.X", "a\nb {{ app.nope }}\n", &ctx()).unwrap_err();
        assert_eq!(err.template, "recipe.yaml env.X");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("app.nope"), "{}", err.message);
    }

    #[test]
    fn syntax_error_names_line() {
        let err = render("conf", "ok\n\n{% if %}\n", &ctx()).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("conf:3: "), "{err}");
    }
}
