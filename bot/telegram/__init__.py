"""aiogram glue: bot factory, middlewares, durable update processing, polling and webhook."""
