# Written by the CommonsCloud supervisor for instance {{ app.id }}.
# Who may do what: everyone who can log in (the directory decides who can) edits and
# uploads; people who are not logged in {% if app.collective or app.settings.public_read != "true" %}see nothing{% else %}read{% endif %}.
*	@ALL	{% if app.collective or app.settings.public_read != "true" %}0{% else %}1{% endif %}
*	@user	8
